"""SMS gateways for the tests, named by dotted path in JIEDAO_SMS_BACKEND."""

from __future__ import annotations

from typing import ClassVar


class GatewayDown(Exception):
    pass


class RecordingBackend:
    """Sends nothing; remembers (phone, text) of every message."""

    outbox: ClassVar[list[tuple[str, str]]] = []

    def send(self, phone: str, text: str) -> str:
        self.outbox.append((phone, text))
        return f"rec-{len(self.outbox)}"


class FailingBackend:
    calls: ClassVar[int] = 0

    def send(self, phone: str, text: str) -> str:
        type(self).calls += 1
        raise GatewayDown("gateway unreachable")


class FlakyBackend:
    """Fails the first two sends, then works."""

    calls: ClassVar[int] = 0

    def send(self, phone: str, text: str) -> str:
        type(self).calls += 1
        if type(self).calls <= 2:
            raise GatewayDown(f"busy ({type(self).calls})")
        return "flaky-ok"

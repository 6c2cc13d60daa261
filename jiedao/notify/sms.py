"""The SMS gateway interface: a backend has ``send(phone, text) -> provider_message_id``.

The backend is a dotted path in the setting ``JIEDAO_SMS_BACKEND`` (default: the console
backend, which only logs). A real gateway (Aliyun, Tencent Cloud …) is a small class with the
same method that raises on failure; the sending job retries it with backoff.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from jiedao.core.fields import mask_phone

logger = logging.getLogger("jiedao.sms")

DEFAULT_BACKEND = "jiedao.notify.sms.ConsoleBackend"

# Mainland mobile numbers (domain.md §2): 11 digits starting 13–19; a landline gets no SMS.
MOBILE = re.compile(r"1[3-9]\d{9}")
_SEPARATORS = re.compile(r"[\s\-()]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SmsBackend(Protocol):
    def send(self, phone: str, text: str) -> str:
        """Send ``text`` to ``phone``; return the gateway's message id, raise on failure."""
        ...


class ConsoleBackend:
    """Development and demo: writes the message to the "jiedao.sms" log instead of sending it.
    The number is masked and control characters are escaped, so a log line cannot be forged
    by a message's text and holds no full phone number."""

    def send(self, phone: str, text: str) -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        logger.info("SMS %s to %s: %s", message_id, mask_phone(phone), printable(text))
        return message_id


def backend_path() -> str:
    return getattr(settings, "JIEDAO_SMS_BACKEND", DEFAULT_BACKEND)


def get_backend(path: str | None = None) -> SmsBackend:
    return import_string(path or backend_path())()


def normalise_mobile(phone: str) -> str:
    """The 11-digit mobile number in ``phone`` (spaces, dashes and +86 dropped), or ""."""
    digits = _SEPARATORS.sub("", phone or "")
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    return digits if MOBILE.fullmatch(digits) else ""


def printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)

"""Failed sign-ins go to the audit trail too (axes counts them for the lock-out)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from jiedao.audit.models import AuditEntry
from jiedao.audit.services import log_action


@receiver(user_login_failed)
def record_failed_login(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    log_action(
        f"anonymous ({username})",
        "accounts.login_failed",
        None,
        territory_code="",
        kind=AuditEntry.Kind.AUTH,
    )

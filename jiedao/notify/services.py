"""Writes of notifications and text messages.

In-app notifications are derived from case events that are already audited, and reading them
is the reader's own business: neither goes to the audit trail (it would be flooded). A text
message leaves the system, so queueing it, giving up on it and sending it again are audited,
without the phone number (domain.md §10).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation

from jiedao.audit.services import log_action, snapshot
from jiedao.notify import sms
from jiedao.notify.kinds import render
from jiedao.notify.models import Notification, SmsMessage, SmsStatus
from jiedao.notify.selectors import unread_count

__all__ = [
    "deliver_sms",
    "mark_all_read",
    "mark_read",
    "notify",
    "queue_sms",
    "resend_sms",
    "unread_count",
]

logger = logging.getLogger("jiedao.notify")

# Attempts of the sending job (jiedao.notify.tasks.send_sms) before a message is given up.
SMS_MAX_ATTEMPTS = 5
SMS_PRIVATE_FIELDS = ("phone",)


def notify(
    user_ids: Iterable[int], kind: str, params: dict[str, Any], case_id: int | None = None
) -> int:
    """One notification of ``kind`` for each user; returns how many were written."""
    rows = [
        Notification(recipient_id=user_id, kind=kind, params=params, case_id=case_id)
        for user_id in sorted(set(user_ids))
    ]
    Notification.objects.bulk_create(rows)
    return len(rows)


def mark_read(user: Any, pk: int) -> bool:
    """Mark one of the user's own notifications read; False when there is no such unread one."""
    rows = Notification.objects.filter(pk=pk, recipient_id=user.pk, read_at__isnull=True)
    return rows.update(read_at=timezone.now()) == 1


def mark_all_read(user: Any) -> int:
    rows = Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True)
    return rows.update(read_at=timezone.now())


# --- Text messages --------------------------------------------------------------------------


def queue_sms(phone: str, kind: str, params: dict[str, Any], case: Any = None) -> SmsMessage | None:
    """Write the message to the outbox and enqueue its sending once that commits. A number
    that is not a mainland mobile gets nothing (``None``)."""
    number = sms.normalise_mobile(phone)
    if not number:
        logger.info(
            "no SMS for case %s: %s is not a mobile number", _pk(case), sms.mask_phone(phone)
        )
        return None
    with translation.override(settings.LANGUAGE_CODE):  # a phone has no language setting
        body = render(kind, params)
    with transaction.atomic():
        message = SmsMessage.objects.create(
            phone=number, body=body, kind=kind, backend=sms.backend_path(), case=case
        )
        log_action(
            None,
            "notify.sms.queue",
            message,
            after=snapshot(message, exclude=SMS_PRIVATE_FIELDS),
            territory_code=getattr(case, "territory_code", "") or "",
        )
        transaction.on_commit(lambda: _enqueue(message.pk))
    return message


def _enqueue(message_id: int) -> None:
    from jiedao.notify.tasks import send_sms  # the tasks module imports this one

    send_sms.enqueue(message_id)


def _pk(obj: Any) -> Any:
    return getattr(obj, "pk", None)


def deliver_sms(message_id: int) -> str:
    """One attempt at sending a queued message (the body of the sending job). Raises when the
    gateway fails, so that the job is retried; the last allowed failure marks it failed."""
    path = sms.backend_path()
    failure: Exception | None = None
    # The row stays locked while the gateway is called: a second worker running the same job
    # skips it instead of sending the text twice.
    with transaction.atomic():
        message = (
            SmsMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status=SmsStatus.QUEUED)
            .first()
        )
        if message is None:  # sent already, being sent, or gone: no resend
            current = SmsMessage.objects.filter(pk=message_id).values_list("status", flat=True)
            return current.first() or "missing"
        try:
            provider_id = sms.get_backend(path).send(message.phone, message.body)
        except Exception as exc:
            failure = exc
            _record_failure(message, path, exc)
        else:
            SmsMessage.objects.filter(pk=message.pk).update(
                status=SmsStatus.SENT,
                sent_at=timezone.now(),
                provider_message_id=str(provider_id or "")[:120],
                backend=path,
                attempts=F("attempts") + 1,
                last_error="",
            )
    if failure is not None:
        raise failure
    return SmsStatus.SENT


def _record_failure(message: SmsMessage, path: str, exc: Exception) -> None:
    attempts = message.attempts + 1
    final = attempts >= SMS_MAX_ATTEMPTS
    error = f"{type(exc).__name__}: {exc}"[:500]
    with transaction.atomic():
        SmsMessage.objects.filter(pk=message.pk, status=SmsStatus.QUEUED).update(
            attempts=attempts,
            last_error=error,
            backend=path,
            status=SmsStatus.FAILED if final else SmsStatus.QUEUED,
        )
        if final:
            message.refresh_from_db()
            log_action(
                None,
                "notify.sms.failed",
                message,
                after=snapshot(message, exclude=SMS_PRIVATE_FIELDS),
                note=error,
                territory_code=_case_territory(message),
            )
    logger.warning(
        "SMS %s to %s: attempt %s failed (%s)%s",
        message.pk,
        message.masked_phone,
        attempts,
        error,
        "; giving up" if final else "",
    )


def resend_sms(actor: Any, message: SmsMessage) -> bool:
    """Put a failed message back in the queue (the admin's action); False if it was not failed."""
    with transaction.atomic():
        requeued = SmsMessage.objects.filter(pk=message.pk, status=SmsStatus.FAILED).update(
            status=SmsStatus.QUEUED, attempts=0
        )
        if not requeued:
            return False
        message.refresh_from_db()
        log_action(
            actor,
            "notify.sms.resend",
            message,
            after=snapshot(message, exclude=SMS_PRIVATE_FIELDS),
            territory_code=_case_territory(message),
        )
        transaction.on_commit(lambda: _enqueue(message.pk))
    return True


def _case_territory(message: SmsMessage) -> str:
    case = message.case  # a forward key: the plain manager, no scope needed
    return case.territory_code if case is not None else ""

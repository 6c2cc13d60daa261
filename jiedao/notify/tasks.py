"""Background jobs of notifications: sending a text message, retried with backoff."""

from __future__ import annotations

from jiedao.jobs.base import job
from jiedao.notify import services

# 1 min, 2, 4, 8 between the five attempts (about a quarter of an hour), then failed.
SMS_BACKOFF_SECONDS = 60


@job(max_attempts=services.SMS_MAX_ATTEMPTS, backoff_seconds=SMS_BACKOFF_SECONDS)
def send_sms(message_id: int) -> str:
    """Send one queued message. Safe to run twice: a message already sent is not sent again."""
    return services.deliver_sms(message_id)

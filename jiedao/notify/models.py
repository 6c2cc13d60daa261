"""In-app notifications and the SMS outbox.

A notification stores what happened (``kind`` and ``params``), never a sentence: the text is
rendered when it is shown, in the reader's language (``jiedao.notify.kinds``). An SMS is
rendered once, in the site's default language, because the phone has no language setting.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.core.fields import EncryptedTextField
from jiedao.notify.sms import mask_phone


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    case = models.ForeignKey(
        "cases.Case",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("case"),
    )
    kind = models.CharField(_("kind"), max_length=40)
    # Values for the kind's sentence: ids, codes, names and ISO times, never personal data.
    params = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notify_recipient_created"),
            models.Index(fields=["recipient", "read_at"], name="notify_recipient_read"),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """The sentence in the active language."""
        from jiedao.notify.kinds import render

        return render(self.kind, self.params)

    @property
    def unread(self) -> bool:
        return self.read_at is None


class SmsStatus(models.TextChoices):
    QUEUED = "queued", _("In the queue")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Sending failed")


class SmsMessage(models.Model):
    """One text message to one phone, sent by a background job with retries."""

    # Personal data (domain.md §10): encrypted at rest, masked in lists and logs.
    phone = EncryptedTextField(_("phone"), kind="phone")
    body = models.TextField(_("text"))
    kind = models.CharField(_("kind"), max_length=40, blank=True)
    backend = models.CharField(_("gateway"), max_length=200)
    status = models.CharField(
        _("status"), max_length=8, choices=SmsStatus.choices, default=SmsStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    provider_message_id = models.CharField(_("gateway message id"), max_length=120, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    case = models.ForeignKey(
        "cases.Case",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("case"),
    )

    class Meta:
        verbose_name = _("text message")
        verbose_name_plural = _("text messages")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "created_at"], name="notify_sms_status")]

    def __str__(self) -> str:
        return f"{self.masked_phone} ({self.get_status_display()})"

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

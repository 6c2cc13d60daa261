"""Read-only views of notifications and the SMS outbox for system administrators. Phone
numbers are shown masked everywhere here; a failed message can be sent again (audited)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from jiedao.notify import services
from jiedao.notify.models import Notification, SmsMessage, SmsStatus


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "recipient", "kind", "case_id", "read_at")
    list_filter = ("kind",)
    list_select_related = ("recipient",)
    date_hierarchy = "created_at"
    fields = ("recipient", "case_id", "kind", "text", "params", "created_at", "read_at")
    readonly_fields = fields

    @admin.display(description=_("text"))
    def text(self, obj: Notification) -> str:
        return obj.text


@admin.register(SmsMessage)
class SmsMessageAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "masked_phone",
        "kind",
        "status",
        "attempts",
        "sent_at",
        "case_id",
    )
    list_filter = ("status", "kind")
    date_hierarchy = "created_at"
    # The phone field itself is never shown, not even on the detail page.
    fields = (
        "masked_phone",
        "kind",
        "body",
        "status",
        "attempts",
        "last_error",
        "backend",
        "provider_message_id",
        "created_at",
        "sent_at",
        "case_id",
    )
    readonly_fields = fields
    actions = ["send_again"]

    @admin.display(description=_("phone"))
    def masked_phone(self, obj: SmsMessage) -> str:
        return obj.masked_phone

    @admin.action(description=_("Send the failed messages again"), permissions=["send_again"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[SmsMessage]) -> None:
        failed = queryset.filter(status=SmsStatus.FAILED)
        sent = sum(services.resend_sms(request.user, message) for message in failed)
        self.message_user(
            request,
            gettext("Messages queued again: %(n)d") % {"n": sent},
            messages.SUCCESS,
        )

    def has_send_again_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

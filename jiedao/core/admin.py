"""The Django admin is for system administrators; it runs under their (whole-system) scope."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class AuditedAdminMixin(admin.ModelAdmin):
    """Admin writes go to the audit trail like every other write."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        from jiedao.audit.services import log_action, snapshot

        before = snapshot(type(obj)._base_manager.filter(pk=obj.pk).first()) if change else None
        super().save_model(request, obj, form, change)
        action = f"admin.{obj._meta.model_name}.{'update' if change else 'create'}"
        log_action(request.user, action, obj, before=before, after=snapshot(obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Territory records are retired, not deleted: their codes must never be reused.
        return False


admin.site.site_header = "jiedao 街道"
admin.site.site_title = "jiedao"

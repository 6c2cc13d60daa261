"""The Django admin is for system administrators; it runs under their (whole-system) scope.

Every admin write, including inlines and the admin pages of other packages (TOTP devices,
lock-out records), goes to the audit trail. Sign-in goes through jiedao's own views."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from jiedao.audit.services import audited, log_action, snapshot, stored_snapshot


class AuditedAdminMixin(admin.ModelAdmin):
    # Territory records are retired, not deleted (their codes are never reused); models that
    # may be deleted (a lost TOTP device, a lock-out record) say so.
    allow_delete = False

    def _log(self, request: HttpRequest, obj: Model, verb: str, before: Any, after: Any) -> None:
        log_action(
            request.user, f"admin.{obj._meta.model_name}.{verb}", obj, before=before, after=after
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with audited(request.user, f"admin.{obj._meta.model_name}", obj):
            super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        befores = {
            f.instance.pk: stored_snapshot(f.instance) for f in formset.forms if f.instance.pk
        }
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            self._log(request, obj, "create", None, snapshot(obj))
        for obj, _fields in formset.changed_objects:
            self._log(request, obj, "update", befores.get(obj.pk), snapshot(obj))
        for obj in formset.deleted_objects:
            self._log(request, obj, "delete", befores.get(obj.pk), None)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self._log(request, obj, "delete", snapshot(obj), None)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self._log(request, obj, "delete", snapshot(obj), None)
        super().delete_queryset(request, queryset)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allow_delete and super().has_delete_permission(request, obj)


def audit_registered(model: type[Model], allow_delete: bool = False, **options: Any) -> None:
    """Re-register another package's admin with audited writes."""
    base = type(admin.site._registry[model])
    admin.site.unregister(model)
    audited = type(
        f"Audited{base.__name__}",
        (AuditedAdminMixin, base),
        {"allow_delete": allow_delete, **options},
    )
    admin.site.register(model, audited)


def _login_through_jiedao(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """The admin has no sign-in of its own: ours enforces lock-out and the second factor."""
    target = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
    return redirect_to_login(target, reverse("accounts:login"))


admin.site.login = _login_through_jiedao  # type: ignore[method-assign]
admin.site.site_header = "jiedao 街道"
admin.site.site_title = "jiedao"

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from jiedao.accounts.models import ApiToken, RoleGrant, User
from jiedao.audit.services import log_action
from jiedao.core.admin import AuditedAdminMixin, audit_registered


class RoleGrantInline(admin.TabularInline):
    model = RoleGrant
    extra = 0
    raw_id_fields = ("district", "street", "community", "grid", "department")
    can_delete = False  # revoke (set "revoked at") instead: the history of who could see what stays


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    """Users are deactivated, never deleted; grants and password changes are audited."""

    inlines = [RoleGrantInline]
    list_display = ("username", "display_name", "is_active", "last_login")
    search_fields = ("username", "display_name")
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("jiedao", {"fields": ("display_name",)}))

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = User.objects.get(pk=id)
            log_action(request.user, "admin.user.password", user, territory_code="")
        return response


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdminMixin):
    list_display = (
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    readonly_fields = ("user", "name", "prefix", "key_hash", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")

    def has_add_permission(self, request):
        # A key is shown once, so tokens are issued by `manage.py issue_api_token`.
        return False


# A lost authenticator is reset by deleting its device; its secret is never shown.
# (OTP_ADMIN_HIDE_SENSITIVE_DATA hides it; staff enrol on their own security page, not here.)
audit_registered(TOTPDevice, allow_delete=True, has_add_permission=lambda self, request: False)
# Deleting a lock-out record unlocks the account: allowed, and audited.
audit_registered(AccessAttempt, allow_delete=True)
audit_registered(AccessLog)
audit_registered(AccessFailureLog)

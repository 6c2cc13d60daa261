from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from jiedao.accounts.models import ApiToken, RoleGrant, User
from jiedao.core.admin import AuditedAdminMixin


class RoleGrantInline(admin.TabularInline):
    model = RoleGrant
    extra = 0
    raw_id_fields = ("district", "street", "community", "grid", "department")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [RoleGrantInline]
    list_display = ("username", "display_name", "is_active", "last_login")
    search_fields = ("username", "display_name")
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("jiedao", {"fields": ("display_name",)}))


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
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
    raw_id_fields = ("user",)

    def has_add_permission(self, request):
        # A key is shown once, so tokens are issued by `manage.py issue_api_token`.
        return False

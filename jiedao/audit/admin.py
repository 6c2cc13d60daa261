from django.contrib import admin

from jiedao.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the trail cannot be edited from the application."""

    list_display = ("seq", "at", "actor_label", "action", "object_repr", "ip")
    search_fields = ("action", "actor_label", "object_repr")
    list_filter = ("kind",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

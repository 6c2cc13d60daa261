from django.contrib import admin

from jiedao.core.admin import AuditedAdminMixin
from jiedao.workdays.calendar import bump_generation
from jiedao.workdays.models import CalendarDay


@admin.register(CalendarDay)
class CalendarDayAdmin(AuditedAdminMixin):
    list_display = ("date", "kind", "name", "territory_code", "entered_by")
    list_filter = ("kind",)
    search_fields = ("name", "territory_code")
    date_hierarchy = "date"
    raw_id_fields = ("district", "street", "entered_by")
    readonly_fields = ("entered_by", "entered_at")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        bump_generation()  # other processes drop their cached calendars

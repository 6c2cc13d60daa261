from django.contrib import admin

from jiedao.core.admin import AuditedAdminMixin
from jiedao.territory import models as t


@admin.register(t.District, t.Street, t.Community, t.Grid)
class NodeAdmin(AuditedAdminMixin):
    list_display = ("code", "name", "initials", "retired_at")
    search_fields = ("code", "name", "initials")
    readonly_fields = ("initials", "created_at")


@admin.register(t.Department)
class DepartmentAdmin(AuditedAdminMixin):
    list_display = ("code", "name", "kind", "district")
    search_fields = ("code", "name", "initials")
    list_filter = ("kind",)


@admin.register(t.StandardAddress)
class AddressAdmin(AuditedAdminMixin):
    list_display = ("full_text", "grid", "lat", "lng")
    search_fields = ("full_text",)
    raw_id_fields = ("grid",)


@admin.register(t.Building)
class BuildingAdmin(AuditedAdminMixin):
    list_display = ("name", "grid", "use", "floors")
    search_fields = ("name", "initials", "address__full_text")
    raw_id_fields = ("grid", "address")


@admin.register(t.Entrance)
class EntranceAdmin(AuditedAdminMixin):
    list_display = ("building", "number")
    raw_id_fields = ("building",)


@admin.register(t.Dwelling)
class DwellingAdmin(AuditedAdminMixin):
    list_display = ("address", "building", "floor", "use")
    search_fields = ("address__full_text",)
    list_filter = ("use",)
    raw_id_fields = ("entrance", "building", "address")


@admin.register(t.Organisation)
class OrganisationAdmin(AuditedAdminMixin):
    list_display = ("name", "kind", "credit_code", "grid")
    search_fields = ("name", "initials", "credit_code")
    list_filter = ("kind",)
    raw_id_fields = ("grid", "address")

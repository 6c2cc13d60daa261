"""Maintenance of the party organisation by system administrators. Organisations are set up
through the party pages (services.create_organisation places them on their node); here their
form, name, secretary and founding date can be corrected, and members kept."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from jiedao.core.admin import AuditedAdminMixin
from jiedao.party.models import PartyMember, PartyOrganisation


@admin.register(PartyOrganisation)
class PartyOrganisationAdmin(AuditedAdminMixin):
    list_display = ("name", "level", "form", "territory_code", "secretary")
    list_filter = ("level", "form")
    search_fields = ("name", "territory_code", "secretary")
    readonly_fields = ("level", "territory_code", "parent", "building")
    fields = ("name", "form", "secretary", "founded_on", *readonly_fields)

    def get_queryset(self, request: HttpRequest) -> Any:
        return PartyOrganisation.all_objects.select_related("parent")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PartyMember)
class PartyMemberAdmin(AuditedAdminMixin):
    allow_delete = True  # a member who leaves is removed; the trail keeps the record
    list_display = ("person", "organisation", "kind", "status", "joined_on")
    list_filter = ("kind", "status", "organisation__level")
    search_fields = ("person__name", "organisation__name")
    raw_id_fields = ("person", "organisation")

    def get_queryset(self, request: HttpRequest) -> Any:
        return PartyMember.all_objects.select_related("person", "organisation")

from django.contrib import admin

from jiedao.core.admin import AuditedAdminMixin
from jiedao.registry.models import Household, Person


@admin.register(Household)
class HouseholdAdmin(AuditedAdminMixin):
    list_display = ("dwelling", "kind")
    raw_id_fields = ("dwelling",)


@admin.register(Person)
class PersonAdmin(AuditedAdminMixin):
    list_display = ("name", "sex", "birth_date", "dwelling")
    search_fields = ("name", "initials")
    raw_id_fields = ("household", "dwelling")

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
    raw_id_fields = ("household", "dwelling", "registered_household", "registered_dwelling")
    # Personal data is changed and revealed only through the registry's pages: they version,
    # mask, ask for a reason and keep the blind indexes in step (domain.md §10).
    exclude = ("identity_number", "phone", "registered_address")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

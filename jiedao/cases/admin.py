"""The catalogue and the routing table, for system administrators until the street's own pages
exist. Cases are not edited here: every change goes through the state machine."""

from django.contrib import admin

from jiedao.cases.models import Category, RoutingRule
from jiedao.core.admin import AuditedAdminMixin


@admin.register(Category)
class CategoryAdmin(AuditedAdminMixin):
    list_display = ("code", "name", "parent", "deadline_days", "handler_type", "active")
    list_filter = ("handler_type", "active")
    search_fields = ("code", "name")


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdminMixin):
    list_display = ("category", "territory_code", "handler_type", "department")
    list_filter = ("handler_type",)
    raw_id_fields = ("category", "department")

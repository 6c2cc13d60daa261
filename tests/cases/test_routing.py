"""The routing rule table: the most specific rule wins, and a category's default otherwise."""

from __future__ import annotations

import pytest

from jiedao.cases.models import HandlerType, RoutingRule
from jiedao.cases.routing import resolve_route, unit_code_for

pytestmark = pytest.mark.django_db

GRID = "110119001001001"


def rule(category, territory_code, handler_type, department=None):
    return RoutingRule.objects.create(
        category=category,
        territory_code=territory_code,
        handler_type=handler_type,
        department=department,
    )


def test_no_rule_falls_back_to_the_category_default(categories):
    route = resolve_route(categories["drainage"], GRID)
    assert route.is_fallback and route.handler_type == HandlerType.DEPARTMENT
    assert route.department is None


def test_subcategory_beats_main_category_beats_any(categories, world):
    rule(None, "", HandlerType.STREET)
    assert resolve_route(categories["sanitation"], GRID).handler_type == HandlerType.STREET
    rule(categories["main"], "", HandlerType.PROPERTY)
    assert resolve_route(categories["sanitation"], GRID).handler_type == HandlerType.PROPERTY
    rule(categories["sanitation"], "", HandlerType.DEPARTMENT, world.department)
    route = resolve_route(categories["sanitation"], GRID)
    assert (route.handler_type, route.department) == (HandlerType.DEPARTMENT, world.department)


def test_deeper_territory_wins_for_the_same_category(categories):
    cat = categories["sanitation"]
    rule(cat, "", HandlerType.DEPARTMENT)
    rule(cat, "110119000000", HandlerType.UTILITY)
    assert resolve_route(cat, GRID).handler_type == HandlerType.UTILITY
    rule(cat, "110119001000", HandlerType.STREET)
    assert resolve_route(cat, GRID).handler_type == HandlerType.STREET
    rule(cat, "110119001001", HandlerType.PROPERTY)
    assert resolve_route(cat, GRID).handler_type == HandlerType.PROPERTY
    rule(cat, GRID, HandlerType.COMMUNITY)
    assert resolve_route(cat, GRID).handler_type == HandlerType.COMMUNITY


def test_category_specificity_outranks_territory_depth(categories):
    rule(None, GRID, HandlerType.COMMUNITY)
    rule(categories["sanitation"], "", HandlerType.UTILITY)
    assert resolve_route(categories["sanitation"], GRID).handler_type == HandlerType.UTILITY


def test_rules_of_other_territories_and_categories_do_not_apply(categories):
    rule(categories["sanitation"], "110119002000", HandlerType.STREET)  # street B
    rule(categories["drainage"], "", HandlerType.UTILITY)
    route = resolve_route(categories["sanitation"], GRID)
    assert route.is_fallback and route.handler_type == HandlerType.COMMUNITY


@pytest.mark.parametrize(
    "handler_type,expected",
    [
        (HandlerType.COMMUNITY, "110119001001"),
        (HandlerType.PROPERTY, "110119001001"),
        (HandlerType.STREET, "110119001000"),
        (HandlerType.DEPARTMENT, ""),
        (HandlerType.UTILITY, ""),
    ],
)
def test_the_handling_unit_of_a_grid(handler_type, expected):
    assert unit_code_for(handler_type, GRID) == expected


def test_system_administrators_edit_the_catalogue_in_the_admin(
    client, world, role_users, categories
):
    from jiedao.accounts.roles import Role

    client.force_login(role_users[Role.SYSTEM_ADMIN])
    assert "垃圾清运" in client.get("/admin/cases/category/").content.decode()
    assert client.get("/admin/cases/routingrule/add/").status_code == 200


def test_one_catch_all_rule_per_territory(categories):
    from django.db import IntegrityError, transaction

    rule(None, "110119001000", HandlerType.STREET)
    with pytest.raises(IntegrityError), transaction.atomic():
        rule(None, "110119001000", HandlerType.COMMUNITY)

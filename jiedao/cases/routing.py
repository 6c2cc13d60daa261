"""Which handler a case goes to: the routing rule table, most specific rule first.

Specificity: the category first (a rule for the 小类 beats one for its 大类, which beats a rule
for every category), then the territory (a grid's rule beats its community's, then the street's,
the district's, and a rule for everywhere). No rule: the category's own default handler type.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from jiedao.cases.models import DEPARTMENT_HANDLERS, Category, HandlerType, RoutingRule
from jiedao.territory import codes
from jiedao.territory.models import Department


@dataclass(frozen=True)
class Route:
    handler_type: str
    department: Department | None = None
    rule: RoutingRule | None = None

    @property
    def is_fallback(self) -> bool:
        return self.rule is None


def _territory_depth(rule: RoutingRule, territory_code: str) -> int | None:
    """How deep the rule's territory is (-1 for everywhere), None when it does not cover the code."""
    if not rule.territory_code:
        return -1
    prefix = codes.scope_prefix(rule.territory_code)
    return len(prefix) if territory_code.startswith(prefix) else None


def _category_rank(rule: RoutingRule, category: Category) -> int:
    if rule.category_id == category.pk:
        return 2
    return 1 if rule.category_id is not None else 0


def resolve_route(category: Category, territory_code: str) -> Route:
    """The handler for a case of ``category`` in the grid ``territory_code``."""
    candidates = RoutingRule.objects.filter(
        Q(category=category) | Q(category__isnull=True) | Q(category_id=category.parent_id)
    ).select_related("department")
    best: tuple[int, int] | None = None
    chosen: RoutingRule | None = None
    for rule in candidates:  # a handful of rows per category, never the grid table
        depth = _territory_depth(rule, territory_code)
        if depth is None:
            continue
        rank = (_category_rank(rule, category), depth)
        if best is None or rank > best:
            best, chosen = rank, rule
    if chosen is None:
        return Route(category.handler_type)
    return Route(chosen.handler_type, chosen.department, chosen)


def unit_code_for(handler_type: str, territory_code: str) -> str:
    """The territory unit that handles a case in a grid: its community or its street."""
    if handler_type in DEPARTMENT_HANDLERS:
        return ""
    if handler_type == HandlerType.STREET:
        return territory_code[:9] + "000"
    return territory_code[:12]

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


def territory_depth(code: str) -> int:
    """-1 for everywhere, then deeper for a smaller place."""
    return len(codes.scope_prefix(code)) if code else -1


def category_rank(rule: RoutingRule) -> int:
    """2 for a 小类 rule, 1 for a 大类 rule, 0 for a rule for every category."""
    if rule.category is None:
        return 0
    return 2 if rule.category.parent_id else 1


def specificity(rule: RoutingRule) -> tuple[int, int]:
    """The routing order: the category first, then the place. The highest wins."""
    return category_rank(rule), territory_depth(rule.territory_code)


def covers(rule: RoutingRule, territory_code: str) -> bool:
    return not rule.territory_code or territory_code.startswith(
        codes.scope_prefix(rule.territory_code)
    )


def applicable_rules(category: Category, territory_code: str) -> list[RoutingRule]:
    """The rules that apply to ``category`` in ``territory_code``, the winner first."""
    candidates = RoutingRule.objects.filter(
        Q(category=category) | Q(category__isnull=True) | Q(category_id=category.parent_id)
    ).select_related("department", "category")
    # A handful of rows per category, never the grid table.
    applicable = [rule for rule in candidates if covers(rule, territory_code)]
    return sorted(applicable, key=specificity, reverse=True)


def resolve_route(category: Category, territory_code: str) -> Route:
    """The handler for a case of ``category`` in the grid ``territory_code``."""
    applicable = applicable_rules(category, territory_code)
    if not applicable:
        return Route(category.handler_type)
    chosen = applicable[0]
    return Route(chosen.handler_type, chosen.department, chosen)


def unit_code_for(handler_type: str, territory_code: str) -> str:
    """The territory unit that handles a case in a grid: its community or its street."""
    if handler_type in DEPARTMENT_HANDLERS:
        return ""
    if handler_type == HandlerType.STREET:
        return territory_code[:9] + "000"
    return territory_code[:12]

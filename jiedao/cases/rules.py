"""Who may read and change the case catalogue and the routing rule table (domain.md §3: "a rule
table, editable by the street, not code")."""

from __future__ import annotations

from typing import Any

import rules

from jiedao.accounts.predicates import has_role, is_staff_member, role_in_territory
from jiedao.accounts.roles import Role

# The catalogue is one for the whole system: the street and the district keep it.
CATALOGUE_EDITORS = frozenset(
    {Role.STREET_STAFF, Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
)
# A rule for everywhere reaches beyond any street: only the district and above set one.
EVERYWHERE_EDITORS = frozenset({Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN})

_edits_in_territory = role_in_territory(*CATALOGUE_EDITORS)


@rules.predicate
def edits_routing_rule(user: Any, rule: Any = None) -> bool:
    """``rule`` is a RoutingRule (saved or not); its place must lie inside one grant of an
    editor role (checked per grant, never against the merged scope). No rule: the user may edit
    some rule somewhere (to show the "new rule" page)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if rule is None:
        return user.has_role(*CATALOGUE_EDITORS)
    if not rule.territory_code:
        return user.has_role(*EVERYWHERE_EDITORS)
    return bool(_edits_in_territory.test(user, rule))


rules.add_perm("cases.view_catalogue", is_staff_member)
rules.add_perm("cases.edit_catalogue", has_role(*CATALOGUE_EDITORS))
rules.add_perm("cases.edit_routing", edits_routing_rule)

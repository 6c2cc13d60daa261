"""Who may read and change the working-day calendars."""

from __future__ import annotations

from typing import Any

import rules

from jiedao.accounts.predicates import is_staff_member
from jiedao.accounts.roles import Role

# A street's own calendar: its staff and leader; the district-wide one: the district.
EDITORS = {
    "street": frozenset({Role.STREET_STAFF, Role.STREET_LEADER, Role.SYSTEM_ADMIN}),
    "district": frozenset({Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}),
}


@rules.predicate
def edits_calendar(user: Any, node: Any = None) -> bool:
    """``node`` is a Street or a District (or a CalendarDay: its node); no node: edits some
    calendar somewhere."""
    if not getattr(user, "is_authenticated", False):
        return False
    if node is None:
        return user.has_role(*EDITORS["street"], *EDITORS["district"])
    node = getattr(node, "node", node)  # a CalendarDay
    roles = EDITORS.get(getattr(node, "level", ""), frozenset())
    return bool(roles) and user.scope_for(set(roles)).covers_code(node.code)


rules.add_perm("workdays.view", is_staff_member)
rules.add_perm("workdays.change_calendar", edits_calendar)

"""Predicates for `rules`: who the user is (roles) and where the object is (territory)."""

from __future__ import annotations

from typing import Any

import rules


@rules.predicate
def is_staff_member(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_staff_member)


def has_role(*roles: str) -> rules.Predicate:
    @rules.predicate(name=f"has_role({','.join(roles)})")
    def predicate(user: Any) -> bool:
        return bool(getattr(user, "is_authenticated", False) and user.has_role(*roles))

    return predicate


def role_in_territory(*roles: str) -> rules.Predicate:
    """The user holds one of ``roles`` on a node that contains the object (no object: holds
    one of the roles anywhere). Checked per grant, never against the merged scope."""

    @rules.predicate(name=f"role_in_territory({','.join(roles)})")
    def predicate(user: Any, obj: Any = None) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        if obj is None:
            return user.has_role(*roles)
        code = getattr(obj, "territory_code", None) or getattr(obj, "code", "")
        return bool(user.scope_for(set(roles)).covers_code(code))

    return predicate

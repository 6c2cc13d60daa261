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


@rules.predicate
def in_territory(user: Any, obj: Any) -> bool:
    """The object lies inside one of the user's grants (no object: decided per object later)."""
    if obj is None:
        return True
    code = getattr(obj, "territory_code", None) or getattr(obj, "code", "")
    return bool(getattr(user, "is_authenticated", False) and user.scope.covers_code(code))

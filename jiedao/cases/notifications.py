"""Who hears of each change to a case (owned by the notifications work; see docs/cases.md)."""

from __future__ import annotations


def case_changed(case_id: int, action: str, actor_id: int | None) -> None:
    """Called after the transaction that changed the case commits."""
    return None


def summons_changed(summons_id: int, what: str, actor_id: int | None) -> None:
    """Called after a summons (吹哨) is created ("summon"), reported ("report") or its part
    recorded ("part"), once the transaction commits."""
    return None

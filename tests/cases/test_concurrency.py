"""Two dispatchers act on the same case at the same moment: one wins, the other gets a conflict.

PostgreSQL only: each thread has its own connection and commits for real, so the row lock is
what decides (see tests/races.py for how the rows are made and removed).
"""

from __future__ import annotations

import threading

import pytest

from jiedao.accounts.models import User
from jiedao.accounts.roles import Role
from jiedao.cases.models import Case, CaseEvent, Node
from jiedao.cases.services import TransitionConflict, transition
from jiedao.core.scopes import unscoped
from tests.races import RaceWorld, at_once, needs_postgresql, run

pytestmark = pytest.mark.django_db


def set_up() -> dict:
    world = RaceWorld("650101000000", "竞态", "RACE").build()
    users = [world.user(Role.STREET_STAFF, f"race-{n}") for n in (1, 2)]
    with unscoped():
        case = Case.objects.create(
            channel="hotline", category=world.category, description="x", grid=world.grid
        )
    return {"world": world, "case": case.pk, "users": [u.pk for u in users]}


@pytest.mark.parametrize("actions", [("register", "register"), ("register", "reject")])
def test_two_dispatchers_at_once_one_wins_the_other_gets_a_conflict(actions):
    needs_postgresql()
    state = run(set_up)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def act(user_pk: int, action: str) -> None:
        with unscoped():
            user = User.objects.get(pk=user_pk)
            case = Case.objects.get(pk=state["case"])  # both see "received"
        barrier.wait()
        try:
            transition(user, case, action, "重复诉求")
            outcomes.append("won")
        except Exception as exc:  # a conflict expected; anything else fails the asserts below
            outcomes.append(exc)

    try:
        at_once(act, zip(state["users"], actions, strict=True))
        assert outcomes.count("won") == 1, outcomes
        (conflict,) = [o for o in outcomes if isinstance(o, TransitionConflict)]
        assert conflict.expected == Node.RECEIVED and str(conflict)

        def stored():
            with unscoped():
                case = Case.objects.get(pk=state["case"])
                return case.node, CaseEvent.objects.filter(case=case).count()

        node, events = run(stored)
        assert node in (Node.REGISTERED, Node.REJECTED) and conflict.actual == node
        assert events == 1  # the winner's; the loser wrote nothing
    finally:
        run(state["world"].remove)

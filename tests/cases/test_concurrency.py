"""Two dispatchers act on the same case at the same moment: one wins, the other gets a conflict.

PostgreSQL only: each thread has its own connection and commits for real, so the row lock is
what decides. The rows are created and removed by helper threads; the test's own transaction
stays untouched (it would hide the committed rows from nobody, but must not hold locks). The
audit trail refuses deletes, so the clean-up lifts its triggers for the rows this test wrote,
the way tests/audit does when it simulates tampering.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from jiedao.accounts.models import RoleGrant, User
from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry, AuditHead
from jiedao.cases.models import Case, CaseEvent, Category, GridIndexGeneration, Node
from jiedao.cases.services import TransitionConflict, transition
from jiedao.core.scopes import unscoped
from jiedao.territory.models import Community, District, Grid, Street
from tests import factories as f

pytestmark = pytest.mark.django_db


def in_own_connection(work, *args):
    from django.db import connection as thread_connection

    try:
        return work(*args)
    finally:
        thread_connection.close()


def run(work, *args):
    """Run ``work`` in a thread of its own and return its result (or raise its error)."""
    box: dict = {}

    def target():
        try:
            box["value"] = in_own_connection(work, *args)
        except Exception as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def set_up() -> dict:
    with unscoped():
        head = AuditHead.objects.filter(pk=1).values("last_seq", "last_hash").first()
        generation = (
            GridIndexGeneration.objects.filter(pk=1).values_list("token", flat=True).first()
        )
        district = f.DistrictFactory(code="650101000000", name="竞态区")
        street = f.StreetFactory(district=district, code="650101001000", name="竞态街道")
        community = f.CommunityFactory(street=street, code="650101001001", name="竞态社区")
        grid = f.GridFactory(community=community, code="650101001001001", name="竞态网格")
        category = Category.objects.create(
            code="RACE", name="竞态", parent=Category.objects.create(code="RACE0", name="竞态大类")
        )
        users = [f.user_with_role(Role.STREET_STAFF, street, username=f"race-{n}") for n in (1, 2)]
        case = Case.objects.create(channel="hotline", category=category, description="x", grid=grid)
    return {"head": head, "generation": generation, "case": case.pk, "users": [u.pk for u in users]}


def clean_up(state: dict) -> None:
    with unscoped(), connection.cursor() as cursor:
        CaseEvent.objects.filter(case_id=state["case"]).delete()
        Case.objects.filter(pk=state["case"]).delete()
        last_seq = state["head"]["last_seq"] if state["head"] else 0
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        AuditEntry.objects.filter(seq__gt=last_seq).delete()
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
        if state["head"]:
            AuditHead.objects.filter(pk=1).update(**state["head"])
        else:
            AuditHead.objects.filter(pk=1).delete()
        RoleGrant.objects.filter(user_id__in=state["users"]).delete()
        User.objects.filter(pk__in=state["users"]).delete()
        Grid.all_objects.filter(code="650101001001001").delete()
        Community.all_objects.filter(code="650101001001").delete()
        Street.all_objects.filter(code="650101001000").delete()
        District.all_objects.filter(code="650101000000").delete()
        Category.objects.filter(code="RACE").delete()
        Category.objects.filter(code="RACE0").delete()
        if state["generation"] is None:
            GridIndexGeneration.objects.filter(pk=1).delete()
        else:
            GridIndexGeneration.objects.filter(pk=1).update(token=state["generation"])


@pytest.mark.parametrize("actions", [("register", "register"), ("register", "reject")])
def test_two_dispatchers_at_once_one_wins_the_other_gets_a_conflict(actions):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite has no row locks to race on")
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
        threads = [
            threading.Thread(target=in_own_connection, args=(act, pk, action))
            for pk, action in zip(state["users"], actions, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
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
        run(clean_up, state)

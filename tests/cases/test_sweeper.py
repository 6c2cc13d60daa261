"""The sweeper (jiedao/cases/sweeper.py): late cases and summonses are escalated once, at the
right moment, catching up after downtime, and only once with two sweepers at the same time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from freezegun import freeze_time

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.cases import sweeper
from jiedao.cases.models import (
    Case,
    CaseEvent,
    HandlerType,
    Node,
    Summons,
)
from jiedao.cases.services import transition
from jiedao.cases.workflow import Action
from jiedao.core.scopes import unscoped
from jiedao.jobs.base import PERIODIC_JOBS
from jiedao.notify.models import Notification
from jiedao.workdays.calendar import SHANGHAI
from tests import factories as f
from tests.cases.conftest import submit
from tests.races import RaceWorld, at_once, needs_postgresql, run

pytestmark = pytest.mark.django_db

# domain.md §3: registered Tue 2025-09-30 10:00 → acknowledge within 2 h of dispatch (12:00);
# resolve within 5 working days → due at 24:00 on Tue 2025-10-14.
TUESDAY_10 = datetime(2025, 9, 30, 10, 0, tzinfo=SHANGHAI)
ACK_DUE = datetime(2025, 9, 30, 12, 0, tzinfo=SHANGHAI)
RESOLVE_DUE = datetime(2025, 10, 15, 0, 0, tzinfo=SHANGHAI)
SECOND = timedelta(seconds=1)


def events(case, action=None) -> list[CaseEvent]:
    with unscoped():
        rows = CaseEvent.objects.filter(case_id=case.pk).order_by("pk")
        return list(rows.filter(action=action) if action else rows)


def stored(case) -> Case:
    return Case.all_objects.get(pk=case.pk)


def dispatched(case, at=TUESDAY_10, **data) -> Case:
    with freeze_time(at):
        transition(None, case, Action.REGISTER)
        transition(None, case, Action.DISPATCH, **data)
    return case


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """One sweeper run at ``at``, its notifications sent as after a real commit."""

    def run(at: datetime) -> dict[str, int]:
        with freeze_time(at), django_capture_on_commit_callbacks(execute=True):
            return sweeper.run_sweep()

    return run


def test_the_sweeper_is_a_periodic_job_every_five_minutes():
    registered = PERIODIC_JOBS["cases.sweeper"]
    assert registered.every == timedelta(minutes=5)
    assert registered.task.module_path == "jiedao.cases.sweeper.sweep"


def test_not_acknowledged_is_escalated_only_after_the_deadline(case, role_users, sweep):
    dispatched(case)
    assert stored(case).acknowledge_due == ACK_DUE

    assert sweep(ACK_DUE)["unacknowledged"] == 0  # at 12:00 sharp it is still in time
    assert stored(case).acknowledge_escalated_at is None
    assert sweep(ACK_DUE + SECOND)["unacknowledged"] == 1

    case = stored(case)
    assert case.acknowledge_escalated_at == ACK_DUE + SECOND
    (event,) = events(case, "escalate_unacknowledged")
    assert (event.from_node, event.to_node) == (Node.DISPATCHED, Node.DISPATCHED)
    assert (event.actor, event.actor_label) == (None, "system")
    with unscoped():
        audit = AuditEntry.objects.get(action="cases.case.escalate_unacknowledged")
    assert audit.object_id == str(case.pk) and audit.actor_label == "system"
    assert "13800138000" not in str(audit.after)
    leader = role_users[Role.STREET_LEADER]
    assert list(Notification.objects.values_list("recipient_id", "kind")) == [
        (leader.pk, "case_unacknowledged")
    ]


def test_each_escalation_happens_once(case, sweep):
    dispatched(case)
    sweep(ACK_DUE + SECOND)
    again = sweep(ACK_DUE + timedelta(minutes=5))
    later = sweep(ACK_DUE + timedelta(hours=6))

    assert again["unacknowledged"] == later["unacknowledged"] == 0
    assert len(events(case, "escalate_unacknowledged")) == 1
    assert stored(case).acknowledge_escalated_at == ACK_DUE + SECOND


def test_a_case_acknowledged_in_time_is_left_alone(case, role_users, sweep):
    dispatched(case)
    with freeze_time(ACK_DUE - SECOND):
        transition(role_users[Role.WORKSTATION_STAFF], case, Action.ACKNOWLEDGE)

    assert sweep(ACK_DUE + timedelta(hours=3))["unacknowledged"] == 0
    assert events(case, "escalate_unacknowledged") == []


def test_dispatched_again_after_a_return_the_new_deadline_counts(case, role_users, sweep):
    dispatched(case)
    sweep(ACK_DUE + SECOND)
    station = role_users[Role.WORKSTATION_STAFF]
    with freeze_time(ACK_DUE + timedelta(minutes=10)):
        transition(station, case, Action.RETURN, "不归我们管")
        transition(None, case, Action.DISPATCH, handler_type=HandlerType.STREET)
    new_due = stored(case).acknowledge_due
    assert new_due == ACK_DUE + timedelta(hours=2, minutes=10)

    assert sweep(new_due)["unacknowledged"] == 0
    assert sweep(new_due + SECOND)["unacknowledged"] == 1
    assert len(events(case, "escalate_unacknowledged")) == 2


def test_overdue_is_flagged_after_the_resolve_deadline(case, role_users, sweep):
    dispatched(case)
    with freeze_time(ACK_DUE - SECOND):
        transition(role_users[Role.WORKSTATION_STAFF], case, Action.ACKNOWLEDGE)
    assert stored(case).resolve_due == RESOLVE_DUE

    assert sweep(RESOLVE_DUE)["overdue"] == 0  # 24:00 on the 14th: still in time
    assert sweep(RESOLVE_DUE + SECOND)["overdue"] == 1
    assert sweep(RESOLVE_DUE + timedelta(days=2))["overdue"] == 0

    (event,) = events(case, "escalate_overdue")
    assert (event.from_node, event.to_node, event.actor_label) == (
        Node.ACKNOWLEDGED,
        Node.ACKNOWLEDGED,
        "system",
    )
    assert stored(case).overdue_escalated_at == RESOLVE_DUE + SECOND
    assert set(Notification.objects.values_list("recipient_id", "kind")) == {
        (role_users[Role.STREET_LEADER].pk, "case_overdue")
    }


def test_registered_but_never_dispatched_cases_are_overdue_too(case, sweep):
    with freeze_time(TUESDAY_10):
        transition(None, case, Action.REGISTER)

    assert sweep(RESOLVE_DUE + SECOND) == {
        "unacknowledged": 0,
        "overdue": 1,
        "summons_report_late": 0,
        "summons_part_late": 0,
    }


def test_handled_and_final_cases_are_not_overdue(world, categories, role_users, sweep):
    station, grid_worker = role_users[Role.WORKSTATION_STAFF], role_users[Role.GRID_WORKER]
    handled, closed, rejected = (submit(world.grid_a1x, categories["sanitation"]) for _ in range(3))
    for case in (handled, closed):
        dispatched(case)
        with freeze_time(ACK_DUE - SECOND):
            for action in (Action.ACKNOWLEDGE, Action.START, Action.FINISH):
                transition(station, case, action)
    with freeze_time(ACK_DUE):
        transition(grid_worker, closed, Action.VERIFY)
        transition(None, closed, Action.CLOSE)
        transition(None, rejected, Action.REJECT, "重复诉求")

    assert sweep(RESOLVE_DUE + timedelta(days=30))["overdue"] == 0


def test_a_reworked_case_past_its_deadline_is_overdue(case, role_users, sweep):
    station, grid_worker = role_users[Role.WORKSTATION_STAFF], role_users[Role.GRID_WORKER]
    dispatched(case)
    with freeze_time(ACK_DUE - SECOND):
        for action in (Action.ACKNOWLEDGE, Action.START, Action.FINISH):
            transition(station, case, action)
    assert sweep(RESOLVE_DUE + SECOND)["overdue"] == 0
    with freeze_time(RESOLVE_DUE + timedelta(hours=1)):
        transition(grid_worker, case, Action.REWORK, "垃圾还在")

    assert sweep(RESOLVE_DUE + timedelta(hours=1, minutes=5))["overdue"] == 1


def test_after_hours_of_downtime_one_run_catches_up_on_everything(
    world, categories, sweep, monkeypatch
):
    monkeypatch.setattr(sweeper, "BATCH_SIZE", 2)  # several batches
    cases = [submit(world.grid_a1x, categories["sanitation"]) for _ in range(5)]
    for n, case in enumerate(cases):
        dispatched(case, at=TUESDAY_10 + timedelta(minutes=20 * n))
    with freeze_time(TUESDAY_10):
        late_registered = submit(world.grid_a2x, categories["sanitation"])
        transition(None, late_registered, Action.REGISTER)

    # The sweeper was down from Tuesday morning until the 16th.
    result = sweep(RESOLVE_DUE + timedelta(days=1))

    assert result["unacknowledged"] == 5
    assert result["overdue"] == 6  # the five dispatched ones and the registered one
    for case in cases:
        assert [e.action for e in events(case)][-2:] == [
            "escalate_unacknowledged",
            "escalate_overdue",
        ]
    assert sweep(RESOLVE_DUE + timedelta(days=1, minutes=5))["overdue"] == 0


def test_a_failing_escalation_does_not_stop_the_others(world, categories, sweep, monkeypatch):
    first, second = (submit(world.grid_a1x, categories["sanitation"]) for _ in range(2))
    dispatched(first), dispatched(second)
    real_event = sweeper._event

    def broken_for_first(case, action, data):
        if case.pk == first.pk:
            raise RuntimeError("disk full")
        real_event(case, action, data)

    monkeypatch.setattr(sweeper, "_event", broken_for_first)
    assert sweep(ACK_DUE + SECOND)["unacknowledged"] == 1
    assert stored(first).acknowledge_escalated_at is None  # rolled back with its event
    monkeypatch.setattr(sweeper, "_event", real_event)
    assert sweep(ACK_DUE + timedelta(minutes=5))["unacknowledged"] == 1  # the next run retries
    assert len(events(first, "escalate_unacknowledged")) == 1


def test_the_job_runs_the_sweep(case):
    dispatched(case)
    with freeze_time(ACK_DUE + SECOND):
        assert sweeper.sweep.call()["unacknowledged"] == 1


# --- Summonses ------------------------------------------------------------------------------


def summons(case, department, report_due, part_due, **extra) -> Summons:
    row = Summons(
        case=case,
        department=department,
        reason="需要执法",
        report_due=report_due,
        part_due=part_due,
        **extra,
    )
    row.save()
    return row


def test_summonses_not_reported_or_without_a_part_are_flagged_once(case, world, role_users, sweep):
    dispatched(case)
    report_due, part_due = ACK_DUE, ACK_DUE + timedelta(days=2)
    late = summons(case, world.department, report_due, part_due)
    on_time = summons(
        case,
        f.DepartmentFactory(district=world.district, code="SW2", name="区水务局"),
        report_due,
        part_due,
        reported_at=report_due - SECOND,
    )

    first = sweep(report_due)
    second = sweep(report_due + SECOND)
    third = sweep(part_due + SECOND)
    fourth = sweep(part_due + timedelta(hours=1))

    assert (first["summons_report_late"], second["summons_report_late"]) == (0, 1)
    assert third["summons_report_late"] == 0 and third["summons_part_late"] == 2
    assert fourth["summons_part_late"] == 0
    late.refresh_from_db(), on_time.refresh_from_db()
    assert late.report_flagged_at == report_due + SECOND and on_time.report_flagged_at is None
    assert late.part_flagged_at == on_time.part_flagged_at == part_due + SECOND
    flags = [(e.data["summons"], e.data["missing"]) for e in events(case, "summons_late")]
    assert flags == [(late.pk, "report"), (late.pk, "part"), (on_time.pk, "part")]
    assert {e.actor_label for e in events(case, "summons_late")} == {"system"}
    told = set(Notification.objects.values_list("recipient_id", "kind"))
    leader, department = role_users[Role.STREET_LEADER], role_users[Role.DEPARTMENT_STAFF]
    assert told >= {
        (leader.pk, "summons_report_late"),
        (department.pk, "summons_report_late"),
        (leader.pk, "summons_part_late"),
    }
    # The water bureau has no staff here; the leader is told of each late part.
    assert Notification.objects.filter(kind="summons_part_late", recipient=leader).count() == 2


def test_a_recorded_part_is_not_flagged(case, world, sweep):
    part_due = ACK_DUE
    summons(
        case,
        world.department,
        ACK_DUE - timedelta(hours=1),
        part_due,
        reported_at=TUESDAY_10,
        part="已到场处置",
        part_recorded_at=part_due - SECOND,
    )
    result = sweep(part_due + timedelta(days=1))
    assert (result["summons_report_late"], result["summons_part_late"]) == (0, 0)


# --- Two sweepers at once (PostgreSQL) ------------------------------------------------------


RACE_CASES = 12


def set_up() -> dict:
    world = RaceWorld("650102000000", "扫描", "SWEEP").build()
    leader = world.user(Role.STREET_LEADER, "sweep-leader")
    past = datetime(2025, 9, 30, 10, 0, tzinfo=SHANGHAI)
    with unscoped():
        cases = [
            Case.objects.create(
                channel="hotline",
                category=world.category,
                description="x",
                grid=world.grid,
                node=Node.DISPATCHED,
                handler_type=HandlerType.STREET,
                handler_unit_code=world.street.code,
                registered_at=past,
                dispatched_at=past,
                acknowledge_due=past + timedelta(hours=2),
                resolve_due=past + timedelta(days=5),
            ).pk
            for _ in range(RACE_CASES)
        ]
    return {"world": world, "cases": cases, "users": [leader.pk]}


def test_two_sweepers_at_once_escalate_each_case_once():
    needs_postgresql()
    state = run(set_up)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def sweep_now() -> None:
        barrier.wait()
        try:
            results.append(sweeper.run_sweep())
        except Exception as exc:
            results.append(exc)

    try:
        at_once(sweep_now, [(), ()])
        assert all(isinstance(r, dict) for r in results), results
        assert sum(r["unacknowledged"] for r in results) == RACE_CASES  # type: ignore[index]
        assert sum(r["overdue"] for r in results) == RACE_CASES  # type: ignore[index]

        def written():
            with unscoped():
                rows = CaseEvent.objects.filter(case_id__in=state["cases"])
                per_case = {
                    (pk, action): rows.filter(case_id=pk, action=action).count()
                    for pk in state["cases"]
                    for action in ("escalate_unacknowledged", "escalate_overdue")
                }
                told = Notification.objects.filter(recipient_id__in=state["users"]).count()
                audited = AuditEntry.objects.filter(
                    object_id__in=[str(pk) for pk in state["cases"]],
                    action__startswith="cases.case.escalate_",
                ).count()
                return per_case, told, audited

        per_case, told, audited = run(written)
        assert set(per_case.values()) == {1}
        assert told == audited == 2 * RACE_CASES
    finally:
        run(state["world"].remove)

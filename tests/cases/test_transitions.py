"""The state machine: the domain's loop, its deadlines, guards, conflicts and events."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation
from freezegun import freeze_time

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.cases.models import Case, CaseEvent, ExtensionState, HandlerType, Node, PublicStatus
from jiedao.cases.services import TransitionConflict, TransitionNotAllowed, transition
from jiedao.cases.workflow import TABLE, Action
from jiedao.core.scopes import unscoped
from jiedao.workdays.calendar import SHANGHAI

pytestmark = pytest.mark.django_db

# domain.md §3: registered Tue 2025-09-30 → 5 working days → end of Tue 2025-10-14.
TUESDAY = "2025-09-30 10:00:00+08:00"


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def fresh(case: Case) -> Case:
    with unscoped():
        return Case.objects.get(pk=case.pk)


def walk(case, *actions, **data):
    for action in actions:
        note = "说明" if action in {"reject", "return", "rework", "request_extension"} else ""
        transition(None, case, action, note, **data.get(action, {}))
    return case


def test_the_whole_loop_with_the_domain_deadlines(case, role_users):
    street, station = role_users[Role.STREET_STAFF], role_users[Role.WORKSTATION_STAFF]
    grid_worker = role_users[Role.GRID_WORKER]
    with freeze_time(TUESDAY):
        transition(street, case, Action.REGISTER)
        assert case.resolve_due == beijing(2025, 10, 15)  # 24:00 on 14 October
        assert case.contact_due == beijing(2025, 10, 1, 10)
        assert "2025-10-14" in case.deadline_note
        transition(street, case, Action.DISPATCH)
        assert (case.handler_type, case.handler_unit_code) == (
            HandlerType.COMMUNITY,
            "110119001001",
        )
        assert case.acknowledge_due == beijing(2025, 9, 30, 12)
    transition(station, case, Action.ACKNOWLEDGE)
    transition(station, case, Action.START)
    transition(station, case, Action.FINISH)
    transition(grid_worker, case, Action.VERIFY)
    transition(street, case, Action.CLOSE)
    assert (case.node, case.public_status, case.handler_type) == (Node.CLOSED, "closed", "")
    transition(grid_worker, case, Action.CALLBACK, rating="satisfied")
    stored = fresh(case)
    assert (stored.node, stored.rating, stored.public_status) == (
        Node.CLOSED,
        "satisfied",
        PublicStatus.CLOSED,
    )
    with unscoped():
        events = list(
            CaseEvent.objects.filter(case=case).order_by("pk").values_list("action", "to_node")
        )
        audited = AuditEntry.objects.filter(object_id=str(case.pk), action__startswith="cases.")
        assert audited.count() == len(events) == 9
    assert events[-1] == ("callback", Node.CLOSED)


def test_urgent_cases_get_one_working_day_and_thirty_minutes(world, categories, case):
    case.urgent = True
    case.save()
    with freeze_time(TUESDAY):
        walk(case, "register", "dispatch")
    assert case.resolve_due == beijing(2025, 10, 10)  # first working day after the holiday
    assert case.acknowledge_due == beijing(2025, 9, 30, 10, 30)


def test_an_approved_extension_gives_fifteen_working_days(case, role_users):
    with freeze_time(TUESDAY):
        walk(case, "register", "dispatch", "acknowledge", "start")
    transition(role_users[Role.WORKSTATION_STAFF], case, Action.REQUEST_EXTENSION, "需要更换管道")
    assert case.extension == ExtensionState.REQUESTED
    with pytest.raises(PermissionDenied):
        transition(role_users[Role.STREET_STAFF], case, Action.APPROVE_EXTENSION)
    transition(role_users[Role.STREET_LEADER], case, Action.APPROVE_EXTENSION)
    assert case.extension == ExtensionState.APPROVED
    assert case.resolve_due == beijing(2025, 10, 29)  # 24:00 on 28 October (11 October worked)
    with pytest.raises(ValidationError):
        transition(role_users[Role.WORKSTATION_STAFF], case, Action.REQUEST_EXTENSION, "again")


def test_a_denied_extension_keeps_the_deadline(case, role_users):
    with freeze_time(TUESDAY):
        walk(case, "register", "dispatch", "acknowledge")
    due = case.resolve_due
    with pytest.raises(ValidationError):
        walk(case, "deny_extension")  # nothing requested
    walk(case, "request_extension", "deny_extension")
    assert (case.extension, case.resolve_due) == (ExtensionState.DENIED, due)


def test_return_clears_the_handler_and_counts(case, world):
    walk(case, "register", "dispatch", "return")
    assert (case.node, case.handler_type, case.return_count) == (Node.REGISTERED, "", 1)
    walk(case, "dispatch", dispatch={"handler_type": "department", "department": world.department})
    assert case.handler_department == world.department and case.handler_unit_code == ""
    with pytest.raises(ValidationError):
        transition(None, case, Action.RETURN)  # a reason is required


def test_rework_goes_back_to_handling_and_counts(case):
    walk(case, "register", "dispatch", "acknowledge", "start", "finish", "rework")
    assert (case.node, case.rework_count, case.handled_at) == (Node.IN_PROGRESS, 1, None)


def test_reopen_only_after_a_dissatisfied_callback_and_it_is_counted(case):
    walk(case, "register", "dispatch", "acknowledge", "start", "finish", "verify", "close")
    with pytest.raises(ValidationError):
        walk(case, "reopen")  # no rating yet
    walk(case, "callback", callback={"rating": "dissatisfied"})
    with pytest.raises(ValidationError):
        walk(case, "callback", callback={"rating": "satisfied"})  # rated once per closure
    with freeze_time("2025-10-20 09:00:00+08:00"):
        walk(case, "reopen")
    assert (case.node, case.reopen_count, case.rating, case.verified_at) == (
        Node.REGISTERED,
        1,
        "",
        None,
    )
    assert case.public_status == PublicStatus.OPEN
    assert case.resolve_due == beijing(2025, 10, 28)  # five working days from the reopening


def test_a_rating_must_be_one_of_three(case):
    walk(case, "register", "dispatch", "acknowledge", "start", "finish", "verify", "close")
    with pytest.raises(ValidationError):
        walk(case, "callback", callback={"rating": "meh"})


def test_rejection_needs_a_reason_and_closes_publicly(case):
    with pytest.raises(ValidationError):
        transition(None, case, Action.REJECT)
    transition(None, case, Action.REJECT, "重复诉求")
    assert (case.node, case.public_status, case.rejection_reason) == (
        Node.REJECTED,
        PublicStatus.CLOSED,
        "重复诉求",
    )


@pytest.mark.parametrize("action", [a for a in Action if (Node.RECEIVED, a) not in TABLE])
def test_actions_outside_the_table_are_refused_and_change_nothing(case, action):
    with pytest.raises(TransitionNotAllowed):
        transition(None, case, action, "说明")
    stored = fresh(case)
    assert stored.node == Node.RECEIVED
    with unscoped():
        assert CaseEvent.objects.filter(case=case).count() == 1


def test_a_stale_copy_gets_a_conflict_and_changes_nothing(case):
    stale = fresh(case)
    transition(None, case, Action.REGISTER)
    with pytest.raises(TransitionConflict) as conflict:
        transition(None, stale, Action.REJECT, "重复")
    assert (conflict.value.expected, conflict.value.actual) == (Node.RECEIVED, Node.REGISTERED)
    with translation.override("en"):
        assert "Reload" in str(TransitionConflict(Node.RECEIVED, Node.REGISTERED))
    with translation.override("zh-hans"):
        message = str(TransitionConflict(Node.RECEIVED, Node.REGISTERED))
        assert "请刷新后重试" in message or "Reload" in message  # .mo built by `make static`
    with pytest.raises(TransitionConflict):
        transition(None, fresh(case), Action.DISPATCH, expected_node=Node.RECEIVED)
    assert fresh(case).node == Node.REGISTERED


def test_a_department_from_another_district_is_refused(case, world):
    walk(case, "register")
    with pytest.raises(ValidationError) as error:
        walk(
            case,
            "dispatch",
            dispatch={"handler_type": "department", "department": world.other_department},
        )
    assert error.value.code == "department_district"
    with pytest.raises(ValidationError):
        walk(case, "dispatch", dispatch={"handler_type": "department"})
    assert fresh(case).node == Node.REGISTERED


def test_the_handler_follows_the_routing_table(case, world):
    from jiedao.cases.models import RoutingRule

    RoutingRule.objects.create(
        category=case.category,
        territory_code="110119001000",
        handler_type="utility",
        department=world.department,
    )
    walk(case, "register", "dispatch")
    assert (case.handler_type, case.handler_department) == ("utility", world.department)


def test_an_external_case_waits_for_delivery_after_each_change(case):
    case.source_system = "12345"
    case.delivery_state = "delivered"
    case.save()
    walk(case, "register")
    assert case.delivery_state == "pending"

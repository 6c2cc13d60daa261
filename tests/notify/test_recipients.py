"""Who hears of what (jiedao/cases/notifications.py): the right people, never the actor, never
anyone outside; the caller in-app and by SMS; and a failure never breaks the case."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from jiedao.accounts.roles import Role
from jiedao.cases import notifications
from jiedao.cases.models import Case, HandlerType, Summons
from jiedao.cases.services import transition
from jiedao.cases.workflow import Action
from jiedao.notify.models import Notification, SmsMessage
from tests import factories as f
from tests.cases.conftest import submit

pytestmark = pytest.mark.django_db


def heard(kind: str | None = None) -> dict[int, list[str]]:
    """recipient pk → kinds received (optionally only of one kind)."""
    rows = Notification.objects.all() if kind is None else Notification.objects.filter(kind=kind)
    result: dict[int, list[str]] = {}
    for recipient_id, row_kind in rows.values_list("recipient_id", "kind"):
        result.setdefault(recipient_id, []).append(row_kind)
    return {pk: sorted(kinds) for pk, kinds in result.items()}


@pytest.fixture
def act(django_capture_on_commit_callbacks):
    """transition() with its after-commit notifications run, as in a real request."""

    def run(actor, case, action, note="", **data):
        with django_capture_on_commit_callbacks(execute=True):
            return transition(actor, case, action, note, **data)

    return run


def to_dispatched(act, case, users, **data):
    act(users[Role.STREET_STAFF], case, Action.REGISTER)
    Notification.objects.all().delete()
    SmsMessage.objects.all().delete()
    act(users[Role.STREET_STAFF], case, Action.DISPATCH, **data)


def test_dispatch_to_a_community_tells_its_workstation_staff_only(act, case, role_users, outsiders):
    colleague = f.user_with_role(Role.WORKSTATION_STAFF, case.grid.community, username="ws-2")

    to_dispatched(act, case, role_users)

    assert set(heard()) == {role_users[Role.WORKSTATION_STAFF].pk, colleague.pk}
    assert set(heard("case_assigned")) == set(heard())
    assert not set(heard()) & outsiders.pks()
    note = Notification.objects.filter(recipient=colleague).get()
    assert note.case_id == case.pk and note.params["case"] == case.pk
    assert note.params["due"] == case.acknowledge_due.isoformat()


def test_dispatch_to_a_department_tells_that_departments_staff(
    act, case, role_users, outsiders, world
):
    to_dispatched(
        act, case, role_users, handler_type=HandlerType.DEPARTMENT, department=world.department
    )

    assert set(heard()) == {role_users[Role.DEPARTMENT_STAFF].pk}
    assert outsiders.other_department.pk not in heard()


def test_dispatch_to_the_street_tells_street_staff_but_not_the_dispatcher(
    act, case, role_users, outsiders, world
):
    colleague = f.user_with_role(Role.STREET_STAFF, world.street_a, username="street-2")

    to_dispatched(act, case, role_users, handler_type=HandlerType.STREET)

    assert set(heard()) == {colleague.pk}  # the dispatcher is street staff too: not told
    assert role_users[Role.STREET_STAFF].pk not in heard()
    assert outsiders.street_staff_b.pk not in heard()


def test_handled_goes_to_the_grid_workers_of_the_grid_closed_too(act, case, role_users, outsiders):
    station, grid_worker = role_users[Role.WORKSTATION_STAFF], role_users[Role.GRID_WORKER]
    to_dispatched(act, case, role_users)
    for action in (Action.ACKNOWLEDGE, Action.START):
        act(station, case, action)
    Notification.objects.all().delete()

    act(station, case, Action.FINISH)
    assert heard() == {grid_worker.pk: ["case_to_verify"]}

    act(grid_worker, case, Action.VERIFY)  # nobody is told of a verification
    assert Notification.objects.count() == 1
    act(role_users[Role.STREET_STAFF], case, Action.CLOSE)
    assert heard("case_to_call_back") == {grid_worker.pk: ["case_to_call_back"]}
    assert outsiders.grid_worker_a1y.pk not in heard()


def test_the_verifying_grid_worker_is_not_told_of_their_own_close(act, case, role_users):
    station, grid_worker = role_users[Role.WORKSTATION_STAFF], role_users[Role.GRID_WORKER]
    to_dispatched(act, case, role_users)
    for action in (Action.ACKNOWLEDGE, Action.START, Action.FINISH):
        act(station, case, action)
    act(grid_worker, case, Action.VERIFY)
    other_worker = f.user_with_role(Role.GRID_WORKER, case.grid, username="gw-2")
    Notification.objects.all().delete()

    act(None, case, Action.CLOSE)  # the system closes: both grid workers hear

    assert set(heard("case_to_call_back")) == {grid_worker.pk, other_worker.pk}


def test_caller_gets_an_sms_for_each_step_that_concerns_them(act, case, role_users, recording_sms):
    street = role_users[Role.STREET_STAFF]

    act(street, case, Action.REGISTER)

    (message,) = SmsMessage.objects.all()
    assert message.phone == "13800138000" and message.kind == "caller_register"
    assert f"#{case.pk}" in message.body and message.case_id == case.pk
    assert Notification.objects.filter(kind__startswith="caller_").count() == 0  # no account


def test_a_resident_hears_in_app_and_by_sms_but_not_of_their_own_report(
    world, categories, role_users, django_capture_on_commit_callbacks, act
):
    resident = role_users[Role.RESIDENT]
    from jiedao.cases.services import submit_case
    from tests.cases.conftest import inside

    lng, lat = inside(world.grid_a1x)
    with django_capture_on_commit_callbacks(execute=True):
        case = submit_case(
            resident,
            channel="web",
            category=categories["sanitation"],
            description="路灯不亮",
            lng=lng,
            lat=lat,
            caller_phone="+86 139-0013-9000",
        ).case
    assert Notification.objects.count() == 0 and SmsMessage.objects.count() == 0

    act(role_users[Role.STREET_STAFF], case, Action.REJECT, "重复诉求")

    assert heard() == {resident.pk: ["caller_reject"]}
    assert Notification.objects.get().params["reason"] == "重复诉求"
    assert SmsMessage.objects.get().phone == "13900139000"


def test_anonymous_callers_still_get_their_sms(
    world, categories, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        case = submit(
            world.grid_a1x,
            categories["sanitation"],
            anonymous=True,
            caller_name="不留名",
            caller_phone="13700137000",
        )
    assert case.caller_name == "" and case.anonymous
    assert list(SmsMessage.objects.values_list("phone", "kind")) == [
        ("13700137000", "caller_submit")
    ]


def test_landlines_and_empty_phones_get_no_sms(
    world, categories, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submit(world.grid_a1x, categories["sanitation"], caller_phone="010-69101234")
        submit(world.grid_a1x, categories["sanitation"])
    assert SmsMessage.objects.count() == 0


def test_reopen_without_a_handler_goes_to_the_street_staff_and_the_caller(
    act, case, role_users, outsiders
):
    station, grid_worker = role_users[Role.WORKSTATION_STAFF], role_users[Role.GRID_WORKER]
    street = role_users[Role.STREET_STAFF]
    to_dispatched(act, case, role_users)
    for action in (Action.ACKNOWLEDGE, Action.START, Action.FINISH):
        act(station, case, action)
    act(grid_worker, case, Action.VERIFY)
    act(street, case, Action.CLOSE)
    act(grid_worker, case, Action.CALLBACK, rating="dissatisfied")
    leader = role_users[Role.STREET_LEADER]
    Notification.objects.all().delete()
    SmsMessage.objects.all().delete()

    act(leader, case, Action.REOPEN)

    assert heard() == {street.pk: ["case_reopened_dispatch"]}
    assert outsiders.street_staff_b.pk not in heard()
    assert SmsMessage.objects.get().kind == "caller_reopen"


def test_escalations_go_to_the_street_leaders_of_the_cases_street(act, case, role_users, outsiders):
    to_dispatched(act, case, role_users)
    Notification.objects.all().delete()

    notifications.case_changed(case.pk, "escalate_unacknowledged", None)

    assert heard() == {role_users[Role.STREET_LEADER].pk: ["case_unacknowledged"]}
    note = Notification.objects.get()
    assert note.params["handler"] == case.grid.community.name


def summons_for(case, department, **extra) -> Summons:
    now = timezone.now()
    summons = Summons(
        case=case,
        department=department,
        reason="需要执法",
        report_due=now + timedelta(hours=2),
        part_due=now + timedelta(days=3),
        **extra,
    )
    summons.save()
    return summons


def test_summons_tells_the_department_then_the_street(case, role_users, outsiders, world):
    street, department = role_users[Role.STREET_STAFF], role_users[Role.DEPARTMENT_STAFF]
    summons = summons_for(case, world.department, summoned_by=street)

    notifications.summons_changed(summons.pk, "summon", street.pk)
    assert heard() == {department.pk: ["summons_new"]}
    assert outsiders.other_department.pk not in heard()

    Notification.objects.all().delete()
    notifications.summons_changed(summons.pk, "report", department.pk)
    notifications.summons_changed(summons.pk, "part", department.pk)
    assert heard() == {street.pk: ["summons_part", "summons_reported"]}
    assert Notification.objects.first().params["department"] == world.department.name

    Notification.objects.all().delete()
    notifications.summons_changed(summons.pk, "report", street.pk)  # street staff recorded it
    assert heard() == {}


def test_late_summons_tell_the_street_leaders_and_the_department(
    case, role_users, outsiders, world
):
    summons = summons_for(case, world.department)

    notifications.summons_changed(summons.pk, "report_late", None)

    assert heard() == {
        role_users[Role.STREET_LEADER].pk: ["summons_report_late"],
        role_users[Role.DEPARTMENT_STAFF].pk: ["summons_report_late"],
    }


def test_a_failing_notification_never_breaks_the_case(act, case, role_users, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("notification store down")

    monkeypatch.setattr("jiedao.notify.services.notify", broken)
    monkeypatch.setattr("jiedao.notify.services.queue_sms", broken)

    with caplog.at_level(logging.ERROR, logger="jiedao.notify"):
        act(role_users[Role.STREET_STAFF], case, Action.REGISTER)
        notifications.case_changed(987654, "dispatch", None)  # no such case
        notifications.summons_changed(987654, "summon", None)

    case.refresh_from_db()
    assert case.node == "registered"
    assert sum("failed" in r.getMessage() for r in caplog.records) == 3


def test_case_params_hold_no_personal_data(act, case, role_users):
    act(role_users[Role.STREET_STAFF], case, Action.REGISTER)
    act(role_users[Role.STREET_STAFF], case, Action.DISPATCH)
    text = str(list(Notification.objects.values_list("params", flat=True)))
    with_caller = Case.all_objects.get(pk=case.pk)
    assert with_caller.caller_phone not in text


def test_the_outbox_keeps_the_phone_encrypted(db):
    from django.db import connection

    from jiedao.notify.models import SmsMessage

    message = SmsMessage.objects.create(phone="13900139000", body="x", backend="console")
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM notify_smsmessage WHERE id = %s", [message.pk])
        [stored] = cursor.fetchone()
    assert "13900139000" not in stored
    assert SmsMessage.objects.get(pk=message.pk).phone == "13900139000"

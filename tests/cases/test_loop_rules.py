"""Rules of the loop found in review: merge chains, 吹哨 after the end, extensions kept across a
return, a new round of contact after reopening, cases with no caller, stale and odd input."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from jiedao.accounts.roles import Role
from jiedao.cases import sweeper
from jiedao.cases.models import Case, Channel, Node
from jiedao.cases.services import submit_case, transition
from jiedao.cases.summons import record_part, report_to_case, summon_departments
from jiedao.core.scopes import unscoped
from tests.cases.conftest import inside, submit

pytestmark = pytest.mark.django_db

TO_CLOSED = ["register", "dispatch", "acknowledge", "start", "finish", "verify", "close"]


def stored(case) -> Case:
    with unscoped():
        return Case.objects.get(pk=case.pk)


def walk(case, actions, **data):
    for action in actions:
        case = transition(None, stored(case), action, "说明", **data)
    return stored(case)


def test_a_merge_chain_closes_every_follower(world, categories):
    first, second, third = (submit(world.grid_a1x, categories["sanitation"]) for _ in range(3))
    transition(None, first, "merge", into=second)
    transition(None, stored(second), "merge", into=third)  # second joins third: so does first
    assert stored(first).merged_into_id == third.pk
    walk(third, TO_CLOSED)
    for follower in (first, second):
        assert stored(follower).public_status == "closed"


def test_summonses_of_a_finished_case_are_neither_answered_nor_flagged(world, role_users, case):
    registered = walk(case, ["register"])
    summons = summon_departments(None, registered, [world.department], "执法")[0]
    walk(registered, TO_CLOSED[1:])
    staff = role_users[Role.DEPARTMENT_STAFF]
    with pytest.raises(ValidationError, match="already finished"):
        report_to_case(staff, summons)
    with unscoped():
        from jiedao.cases.models import Summons

        Summons.objects.filter(pk=summons.pk).update(report_due=stored(case).created_at)
    counts = sweeper.run_sweep()
    assert counts["summons_report_late"] == 0


def test_a_recorded_part_is_not_overwritten(world, role_users, case):
    summons = summon_departments(None, walk(case, ["register"]), [world.department], "执法")[0]
    staff = role_users[Role.DEPARTMENT_STAFF]
    record_part(staff, summons, "第一次")
    with pytest.raises(ValidationError, match="already recorded"):
        record_part(staff, summons, "第二次")


def test_an_approved_extension_survives_a_return(case):
    extended = walk(case, ["register", "dispatch", "acknowledge", "request_extension"])
    extended = walk(extended, ["approve_extension", "return"])
    assert extended.extension == "approved"
    assert extended.resolve_due == walk(extended, ["dispatch"]).resolve_due


def test_reopening_starts_a_new_round_of_contact(case):
    closed = walk(case, TO_CLOSED[:2])
    closed = walk(closed, ["contact", *TO_CLOSED[2:]])
    assert closed.contacted_at is not None
    rated = transition(None, closed, "callback", rating="dissatisfied")
    reopened = walk(rated, ["reopen"])
    assert reopened.contacted_at is None


def test_an_operator_is_not_the_reporter_of_a_call(world, role_users, categories):
    operator = role_users[Role.STREET_STAFF]
    lng, lat = inside(world.grid_a1x)
    call = submit_case(
        operator, channel=Channel.HOTLINE, category=categories["sanitation"], description="x",
        lng=lng, lat=lat, caller_phone="13800138000",
    ).case  # fmt: skip
    assert call.reporter is None
    with unscoped():
        assert call.events.get().actor == operator  # who typed it in is kept


def test_a_patrol_finding_has_no_caller_to_call_back(client, world, role_users, categories):
    worker = role_users[Role.GRID_WORKER]
    lng, lat = inside(world.grid_a1x)
    finding = submit_case(
        worker, channel=Channel.PATROL, category=categories["sanitation"], description="井盖缺失",
        lng=lng, lat=lat,
    ).case  # fmt: skip
    closed = walk(finding, TO_CLOSED)
    with pytest.raises(ValidationError, match="no caller"):
        transition(worker, closed, "callback", rating="satisfied")
    client.force_login(worker)
    assert list(client.get(reverse("cases:todo")).context["callback"]) == []


@pytest.mark.parametrize("expected", ["bogus", "", "closed\x00"])
def test_a_tampered_form_is_a_clear_error_not_a_crash(client, role_users, case, expected):
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.post(
        reverse("cases:act", args=[case.pk]), {"action": "register", "expected_node": expected}
    )
    assert response.status_code in (302, 400)
    assert stored(case).node == Node.RECEIVED


@pytest.mark.parametrize("term", ["²", "１２", "9" * 30])
def test_odd_numbers_in_the_desk_search_do_not_crash(client, role_users, case, term):
    client.force_login(role_users[Role.STREET_STAFF])
    assert client.get(reverse("cases:desk"), {"q": term}).status_code == 200


def test_a_resident_sees_no_internal_notes_or_summonses_in_the_api(
    client, world, role_users, categories
):
    resident = role_users[Role.RESIDENT]
    lng, lat = inside(world.grid_a1x)
    own = submit_case(
        resident, channel="web", category=categories["sanitation"], description="x",
        lng=lng, lat=lat,
    ).case  # fmt: skip
    registered = transition(None, own, "register", "INTERNAL: 内部备注")
    summon_departments(None, registered, [world.department], "SECRET-REASON")
    client.force_login(resident)
    body = client.get(f"/api/cases/{own.pk}").json()
    assert "INTERNAL" not in str(body) and body["summonses"] == []
    page = client.get(reverse("cases:detail", args=[own.pk])).content.decode()
    assert "SECRET-REASON" not in page and "INTERNAL" not in page


def test_deadlines_read_as_domain_md_counts_them():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from jiedao.workdays.display import deadline_text

    beijing = ZoneInfo("Asia/Shanghai")
    assert deadline_text(datetime(2025, 10, 15, 0, 0, tzinfo=beijing)) == "2025-10-14 24:00"
    assert deadline_text(datetime(2025, 10, 15, 9, 30, tzinfo=beijing)) == "2025-10-15 09:30"


def test_time_left_never_speaks_of_months():
    from datetime import timedelta

    from django.utils import timezone

    from jiedao.cases.templatetags.cases import time_left

    now = timezone.now()
    assert time_left(now + timedelta(days=300, minutes=1)) == "in 300 days"
    assert time_left(now - timedelta(hours=5, minutes=1)) == "5 hours ago"
    assert time_left(now + timedelta(minutes=20, seconds=30)) == "in 20 minutes"


def test_the_leader_finds_extension_requests_and_decided_ones_leave(client, role_users, case):
    requested = walk(case, ["register", "dispatch", "acknowledge", "request_extension"])
    client.force_login(role_users[Role.STREET_LEADER])
    desk = client.get(reverse("cases:desk"), {"queue": "extension"})
    assert [c.pk for c in desk.context["page_obj"].object_list] == [case.pk]
    offered = [f["action"] for f in client.get(case.get_absolute_url()).context["actions"]]
    assert offered[:2] == ["approve_extension", "deny_extension"]
    walk(requested, ["approve_extension"])
    offered = [f["action"] for f in client.get(case.get_absolute_url()).context["actions"]]
    assert "approve_extension" not in offered and "deny_extension" not in offered
    assert list(client.get(reverse("cases:desk"), {"queue": "extension"}).context["page_obj"]) == []


def test_the_main_step_is_offered_first(client, role_users, case):
    walk(case, ["register", "dispatch"])
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    offered = [f["action"] for f in client.get(case.get_absolute_url()).context["actions"]]
    assert offered[0] == "acknowledge" and "return" in offered


def test_callbacks_are_due_for_two_weeks_after_closing(world, role_users, case):
    from datetime import timedelta

    from django.utils import timezone

    from jiedao.cases.selectors import grid_worker_todo

    closed = walk(case, TO_CLOSED)
    worker = role_users[Role.GRID_WORKER]
    assert list(grid_worker_todo(worker)["callback"]) == [closed]
    with unscoped():
        Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - timedelta(days=15))
    assert list(grid_worker_todo(worker)["callback"]) == []


def test_exports_write_real_dates_in_beijing_time(client, role_users, case):
    from io import BytesIO

    from openpyxl import load_workbook

    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(reverse("cases:desk"), {"format": "xlsx"})
    rows = list(load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))
    received = rows[1][5]
    assert received.tzinfo is None
    assert abs(received - timezone_now_local()).total_seconds() < 120


def timezone_now_local():
    from django.utils import timezone

    return timezone.localtime().replace(tzinfo=None)


def test_the_handler_is_named_not_coded(world, case):
    dispatched = walk(case, ["register", "dispatch"])
    assert dispatched.handler_label == world.community_a1.name


def test_contact_is_offered_until_it_is_recorded(client, role_users, case):
    walk(case, ["register", "dispatch"])
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    assert "contact" in [
        f["action"] for f in client.get(case.get_absolute_url()).context["actions"]
    ]
    walk(case, ["contact"])
    assert "contact" not in [
        f["action"] for f in client.get(case.get_absolute_url()).context["actions"]
    ]

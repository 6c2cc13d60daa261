"""吹哨报到: the street summons departments; each reports (报到) and records its part."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation
from freezegun import freeze_time

from jiedao.accounts.roles import Role
from jiedao.cases.models import CaseEvent, Summons
from jiedao.cases.services import transition
from jiedao.cases.summons import record_part, report_to_case, summon_departments
from jiedao.core.scopes import unscoped
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    """Refusals are checked in English (the default language is zh-hans)."""
    with translation.override("en"):
        yield


@pytest.fixture
def registered(case):
    transition(None, case, "register")
    return case


def _summonses():
    with unscoped():
        return list(Summons.objects.order_by("pk"))


def _events(case, action):
    with unscoped():
        return list(CaseEvent.objects.filter(case=case, action=action))


@freeze_time("2025-09-30 10:00:00+08:00")
def test_summons_deadlines_default_to_the_category(world, role_users, registered):
    street = role_users[Role.STREET_STAFF]
    made = summon_departments(street, registered, [world.department], "需要城管执法")
    summons = made[0]
    # Acknowledge time of the category: 120 minutes.
    assert summons.report_due - summons.summoned_at == pytest.approx(
        timedelta(minutes=120), abs=timedelta(seconds=2)
    )
    # The part is due with the case: 5 working days after 30 Sep → end of 14 Oct.
    assert summons.part_due == registered.resolve_due
    assert len(_events(registered, "summon")) == 1


def test_several_departments_at_once_and_never_twice(world, role_users, registered):
    street = role_users[Role.STREET_STAFF]
    third = f.DepartmentFactory(district=world.district)
    summon_departments(street, registered, [world.department, third], "联合处置")
    assert len(_summonses()) == 2
    with pytest.raises(ValidationError, match="already been summoned"):
        summon_departments(street, registered, [world.department], "再次")
    assert len(_summonses()) == 2


@pytest.mark.parametrize(
    "role", [Role.GRID_WORKER, Role.WORKSTATION_STAFF, Role.DEPARTMENT_STAFF, Role.RESIDENT]
)
def test_only_dispatchers_summon(world, role_users, registered, role):
    with pytest.raises(PermissionDenied):
        summon_departments(role_users[role], registered, [world.department], "x")
    assert _summonses() == []


def test_a_street_cannot_summon_for_another_streets_case(world, categories):
    from tests.cases.conftest import submit

    other = submit(world.grid_b1x, categories["sanitation"])
    transition(None, other, "register")
    street_a = f.user_with_role(Role.STREET_STAFF, world.street_a, username="a-staff")
    with pytest.raises(PermissionDenied):
        summon_departments(street_a, other, [world.department], "x")


def test_bad_summonses_change_nothing(world, role_users, case, registered):
    street = role_users[Role.STREET_STAFF]
    with pytest.raises(ValidationError, match="at least one department"):
        summon_departments(street, registered, [], "x")
    with pytest.raises(ValidationError, match="why"):
        summon_departments(street, registered, [world.department], "  ")
    elsewhere = f.DepartmentFactory(district=f.DistrictFactory(code="110120000000"))
    with pytest.raises(ValidationError, match="district"):
        summon_departments(street, registered, [elsewhere], "x")
    assert _summonses() == [] and _events(registered, "summon") == []


def test_not_before_registration(world, role_users, case):
    with pytest.raises(ValidationError):
        summon_departments(role_users[Role.STREET_STAFF], case, [world.department], "x")


def test_department_reports_and_records_its_part(world, role_users, registered):
    summons = summon_departments(None, registered, [world.department], "执法")[0]
    staff = role_users[Role.DEPARTMENT_STAFF]
    report_to_case(staff, summons)
    with pytest.raises(ValidationError, match="already reported"):
        report_to_case(staff, summons)
    record_part(staff, summons, "已现场执法，责令整改")
    with unscoped():
        done = Summons.objects.get(pk=summons.pk)
    assert done.reported_at and done.part == "已现场执法，责令整改"
    assert not done.reported_late and not done.part_late
    assert len(_events(registered, "summons_report")) == 1
    assert len(_events(registered, "summons_part")) == 1


def test_another_department_cannot_answer(world, role_users, registered):
    neighbour = f.DepartmentFactory(district=world.district)
    summons = summon_departments(None, registered, [neighbour], "执法")[0]
    with pytest.raises(PermissionDenied):
        report_to_case(role_users[Role.DEPARTMENT_STAFF], summons)
    with pytest.raises(PermissionDenied):
        record_part(role_users[Role.STREET_STAFF], summons, "x")


def test_late_report_is_flagged(world, registered):
    with freeze_time("2025-09-30 10:00:00+08:00"):
        summons = summon_departments(None, registered, [world.department], "执法")[0]
    with freeze_time("2025-09-30 12:30:00+08:00"):  # 2 h 30 min later; 2 h allowed
        report_to_case(None, summons)
    with unscoped():
        assert Summons.objects.get(pk=summons.pk).reported_late


def test_summons_pages(client, world, role_users, registered):
    client.force_login(role_users[Role.STREET_STAFF])
    client.post(
        reverse("cases:summon", args=[registered.pk]),
        {"departments": [world.department.pk], "reason": "需要执法", "report_hours": "1"},
    )
    [summons] = _summonses()
    client.force_login(role_users[Role.DEPARTMENT_STAFF])
    inbox = client.get(reverse("cases:inbox"))
    assert [s.pk for s in inbox.context["summonses"]] == [summons.pk]
    client.post(reverse("cases:summons_report", args=[summons.pk]))
    client.post(reverse("cases:summons_part", args=[summons.pk]), {"part": "已执法"})
    with unscoped():
        done = Summons.objects.get(pk=summons.pk)
    assert done.reported_at and done.part == "已执法"
    assert list(client.get(reverse("cases:inbox")).context["summonses"]) == []

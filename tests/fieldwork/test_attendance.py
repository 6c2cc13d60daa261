"""The attendance summary for a constructed month: October 2026 has the National Day holiday
(1–7 October off) and Saturday 10 October worked, so 18 working days (chinese-calendar)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.cases.models import Category, HandlerType
from jiedao.cases.services import submit_case
from jiedao.fieldwork import selectors
from jiedao.fieldwork.models import PatrolFinding
from jiedao.registry.models import Visit
from jiedao.territory.models import GridWorker
from tests import factories as f
from tests.fieldwork.conftest import inside, make_patrol

pytestmark = pytest.mark.django_db

OCTOBER = date(2026, 10, 1)
AFTER = date(2026, 11, 15)


def local(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return timezone.make_aware(datetime(2026, month, day, hour, minute))


def visit(worker, household, when):
    return Visit.all_objects.create(
        household=household, kind=Visit.Kind.ROUTINE, visited_at=when, visited_by=worker
    )


@pytest.fixture
def october(world, worker):
    grid = world.grid_a1x
    make_patrol(worker, grid, started_at=local(3, 9), ended_at=local(3, 11), distance_m=2000)
    busy = make_patrol(
        worker, grid, started_at=local(8, 9), ended_at=local(8, 10, 30), distance_m=1500
    )
    make_patrol(worker, grid, started_at=local(8, 14), ended_at=local(8, 15), distance_m=500)
    make_patrol(worker, grid, started_at=local(10, 9))  # never ended: counts 12 hours at most
    make_patrol(worker, grid, started_at=local(31, 23, 30), ended_at=local(1, 0, 30, month=11))
    # Outside the month (Beijing time): not counted.
    make_patrol(
        worker, grid, started_at=local(30, 23, 50, month=9), ended_at=local(30, 23, 59, month=9)
    )
    make_patrol(worker, grid, started_at=local(1, 0, 10, month=11), ended_at=local(1, 1, month=11))
    household = world.persons["a1x"].household
    for when in (local(8, 16), local(9, 10), local(12, 10)):
        visit(worker, household, when)
    main = Category.objects.create(code="01", name="市容环境", handler_type=HandlerType.STREET)
    sub = Category.objects.create(
        code="0101", name="垃圾清运", parent=main, handler_type=HandlerType.COMMUNITY
    )
    lng, lat = inside(grid)
    case = submit_case(
        worker, channel="patrol", category=sub, description="井盖缺失", lng=lng, lat=lat
    ).case
    PatrolFinding.all_objects.create(patrol=busy, case=case)
    return busy


def row_of(report, user):
    return next(r for r in report.rows if r.worker.pk == user.pk)


def test_the_months_figures(world, worker, october):
    report = selectors.attendance(worker, OCTOBER, today=AFTER)
    assert report.counted_until == date(2026, 10, 31) and not report.fallback
    row = row_of(report, worker)
    assert row.working_days == 18
    assert row.field_days == 6  # 3, 8, 9, 10, 12 and 31 October
    assert row.field_working_days == 4  # 8, 9, 10 (the worked Saturday) and 12
    assert row.patrols == 5
    assert row.hours == 17.5  # 2 + 1.5 + 1 + 12 (capped) + 1 (across midnight)
    assert row.km == 4.0
    assert row.findings == 1 and row.visits == 3
    assert row.rate == 22.2  # 4 ÷ 18
    assert row.grids == world.grid_a1x.name


def test_the_current_month_counts_up_to_today(world, worker, october):
    row = row_of(selectors.attendance(worker, OCTOBER, today=date(2026, 10, 9)), worker)
    assert row.working_days == 2  # 8 and 9 October
    assert row.field_working_days == 2 and row.rate == 100.0


def test_a_month_to_come_counts_nothing(world, worker):
    report = selectors.attendance(worker, date(2026, 12, 1), today=AFTER)
    assert report.counted_until is None
    assert row_of(report, worker).working_days == 0 and row_of(report, worker).rate is None


def test_a_year_without_a_holiday_calendar_is_counted_monday_to_friday(world, worker):
    report = selectors.attendance(worker, date(2031, 3, 1), today=date(2031, 4, 1))
    assert report.fallback
    assert row_of(report, worker).working_days == 21  # March 2031: 21 weekdays


EXPECTED_WORKERS = {
    Role.GRID_WORKER: {"a1x"},
    Role.WORKSTATION_STAFF: {"a1x", "a1x_colleague", "a1y"},
    Role.STREET_STAFF: {"a1x", "a1x_colleague", "a1y", "a2x"},
    Role.STREET_LEADER: {"a1x", "a1x_colleague", "a1y", "a2x"},
    Role.DISTRICT_ADMIN: {"a1x", "a1x_colleague", "a1y", "a2x", "b1x"},
    Role.SYSTEM_ADMIN: {"a1x", "a1x_colleague", "a1y", "a2x", "b1x"},
    Role.RESIDENT: set(),
    Role.COMMITTEE_MEMBER: set(),
    Role.DEPARTMENT_STAFF: set(),
}


@pytest.mark.parametrize("role", list(Role))
def test_whose_attendance_each_role_sees(world, role_users, workers, role):
    for key, user in workers.items():
        make_patrol(
            user, getattr(world, f"grid_{key[:3]}"), started_at=local(8, 9), ended_at=local(8, 10)
        )
    report = selectors.attendance(role_users[role], OCTOBER, today=AFTER)
    names = {key for key, user in workers.items() for r in report.rows if r.worker.pk == user.pk}
    assert names == EXPECTED_WORKERS[role]
    for row in report.rows:
        assert row.patrols == 1  # each sees the patrol of each worker shown, no more


def test_a_supervisor_does_not_count_patrols_outside_their_territory(world, role_users, worker):
    """A grid worker who also holds a grid in street B: street A counts only street A."""
    RoleGrant.objects.create(user=worker, role=Role.GRID_WORKER, grid=world.grid_b1x)
    worker.clear_grant_cache()
    make_patrol(worker, world.grid_a1x, started_at=local(8, 9), ended_at=local(8, 10))
    make_patrol(worker, world.grid_b1x, started_at=local(9, 9), ended_at=local(9, 10))
    street_a = row_of(
        selectors.attendance(role_users[Role.STREET_STAFF], OCTOBER, today=AFTER), worker
    )
    district = row_of(
        selectors.attendance(role_users[Role.DISTRICT_ADMIN], OCTOBER, today=AFTER), worker
    )
    assert (street_a.patrols, district.patrols) == (1, 2)
    assert (street_a.field_days, district.field_days) == (1, 2)


def test_overlapping_patrols_count_their_hours_once(world, worker):
    """Two patrols of one worker over the same hour (one imported, one queued offline): the
    hours on patrol are the time covered, not the sum."""
    grid = world.grid_a1x
    make_patrol(worker, grid, started_at=local(8, 9), ended_at=local(8, 11))
    make_patrol(worker, grid, started_at=local(8, 10), ended_at=local(8, 12))
    make_patrol(worker, grid, started_at=local(8, 10, 30), ended_at=local(8, 10, 45))  # inside
    make_patrol(worker, grid, started_at=local(8, 14), ended_at=local(8, 15))  # apart
    row = row_of(selectors.attendance(worker, OCTOBER, today=AFTER), worker)
    assert row.patrols == 4 and row.hours == 4.0  # 9–12 and 14–15


def test_only_grid_workers_are_listed(world, role_users, workers):
    """Someone on a grid's roster without a grid-worker grant (a workstation clerk) does no
    field work: not listed at 0 %. A grid worker granted elsewhere but assigned here is."""
    clerk = role_users[Role.WORKSTATION_STAFF]
    GridWorker.all_objects.create(grid=world.grid_a1x, user=clerk, kind=GridWorker.Kind.PART_TIME)
    GridWorker.all_objects.create(
        grid=world.grid_a1y, user=workers["b1x"], kind=GridWorker.Kind.PART_TIME
    )
    street = role_users[Role.STREET_STAFF]
    listed = {user.pk for user in selectors.workers(street)}
    assert clerk.pk not in listed and workers["b1x"].pk in listed
    shown = {row.worker.pk for row in selectors.attendance(street, OCTOBER, today=AFTER).rows}
    assert shown == listed


def test_the_summary_asks_the_calendar_once_per_street(
    world, role_users, django_assert_max_num_queries
):
    """The number of queries does not grow with the number of grid workers."""
    district = role_users[Role.DISTRICT_ADMIN]
    grids = [world.grid_a1x, world.grid_a1y, world.grid_a2x, world.grid_b1x]

    def add_workers(n: int, start: int) -> None:
        for i in range(start, start + n):
            grid = grids[i % len(grids)]
            user = f.user_with_role(Role.GRID_WORKER, grid, username=f"walker{i}")
            make_patrol(user, grid, started_at=local(8, 9), ended_at=local(8, 10))

    add_workers(4, 0)
    with CaptureQueriesContext(connection) as few:
        assert len(selectors.attendance(district, OCTOBER, today=AFTER).rows) == 1 + 4
    add_workers(12, 4)
    with django_assert_max_num_queries(len(few)):
        assert len(selectors.attendance(district, OCTOBER, today=AFTER).rows) == 1 + 16

"""What each user sees of care tags and visits: overdue and due-soon lists in scope (a grid
worker: their grid), counts per grid, the visit log."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.registry import care
from jiedao.registry.models import CareGroup, Visit
from tests import factories as f

pytestmark = pytest.mark.django_db

BEIJING = timezone.get_fixed_timezone(8 * 60)
G = CareGroup


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=BEIJING)


def person_in(world, key: str):
    """Another person in the building of the world's grid ``key``."""
    base = world.persons[key]
    return f.PersonFactory(household__dwelling=base.dwelling)


@pytest.fixture
def tagged(world):
    """On 2026-11-01 (Beijing): weekly elders in A1x, A1y and B1x visited on 2026-11-02, one
    A1x elder never visited; disabled and veteran tags without schedules."""
    with freeze_time("2026-11-01 09:00:00+08:00"):
        tags = {
            "a1x": care.tag_person(None, world.persons["a1x"], G.ELDERLY_ALONE),
            "a1x_never": care.tag_person(None, person_in(world, "a1x"), G.ELDERLY_ALONE),
            "a1x_disabled": care.tag_person(None, world.persons["a1x"], G.DISABLED),
            "a1y": care.tag_person(None, world.persons["a1y"], G.ELDERLY_ALONE),
            "a1y_veteran": care.tag_person(None, person_in(world, "a1y"), G.VETERAN),
            "b1x": care.tag_person(None, world.persons["b1x"], G.ELDERLY_ALONE),
        }
    for key in ("a1x", "a1y", "b1x"):
        care.record_visit(None, person=world.persons[key], kind="care", visited_at=at("2026-11-02"))
    return tags


def keys(tagged, rows) -> set[str]:
    by_pk = {tag.pk: key for key, tag in tagged.items()}
    return {by_pk[row.pk] for row in rows}


# Overdue on 2026-11-10: the visited weekly elders (due 11-09) and the never-visited one (11-08).
OVERDUE = {
    Role.GRID_WORKER: {"a1x", "a1x_never"},
    Role.WORKSTATION_STAFF: {"a1x", "a1x_never", "a1y"},
    Role.COMMITTEE_MEMBER: {"a1x", "a1x_never", "a1y"},
    Role.STREET_STAFF: {"a1x", "a1x_never", "a1y"},
    Role.STREET_LEADER: {"a1x", "a1x_never", "a1y"},
    Role.DISTRICT_ADMIN: {"a1x", "a1x_never", "a1y", "b1x"},
    Role.SYSTEM_ADMIN: {"a1x", "a1x_never", "a1y", "b1x"},
    Role.DEPARTMENT_STAFF: set(),
    Role.RESIDENT: set(),
}


@pytest.mark.parametrize("role", list(Role))
def test_overdue_visits_lie_in_the_users_territory(role_users, tagged, role):
    rows = care.overdue_visits(role_users[role], on=date(2026, 11, 10))
    assert keys(tagged, rows) == OVERDUE[role], role


def test_overdue_is_from_the_day_after_the_due_date(role_users, tagged):
    worker = role_users[Role.GRID_WORKER]
    assert keys(tagged, care.overdue_visits(worker, on=date(2026, 11, 8))) == set()
    assert keys(tagged, care.overdue_visits(worker, on=date(2026, 11, 9))) == {"a1x_never"}
    rows = list(care.overdue_visits(worker, on=date(2026, 11, 10)))
    assert [keys(tagged, [r]) for r in rows] == [{"a1x_never"}, {"a1x"}]  # longest overdue first


def test_due_soon_is_today_to_two_days_ahead(role_users, tagged):
    worker = role_users[Role.GRID_WORKER]
    assert keys(tagged, care.due_soon(worker, on=date(2026, 11, 6))) == {"a1x_never"}
    assert keys(tagged, care.due_soon(worker, on=date(2026, 11, 7))) == {"a1x", "a1x_never"}
    assert keys(tagged, care.due_soon(worker, on=date(2026, 11, 9))) == {"a1x"}
    assert keys(tagged, care.due_soon(worker, on=date(2026, 11, 10))) == set()
    assert keys(tagged, care.due_soon(worker, days=3, on=date(2026, 11, 6))) == {
        "a1x",
        "a1x_never",
    }


def test_a_grid_workers_to_do_keeps_to_their_grid_even_with_a_wider_role(world, tagged):
    """A grid worker of A1x who also sits on the A1 committee: the to-do is their grid."""
    user = f.user_with_role(Role.GRID_WORKER, world.grid_a1x)
    RoleGrant.objects.create(user=user, role=Role.COMMITTEE_MEMBER, community=world.community_a1)
    user.clear_grant_cache()
    on = date(2026, 11, 10)
    assert keys(tagged, care.overdue_visits(user, on=on)) == {"a1x", "a1x_never", "a1y"}
    mine = care.overdue_visits(user, on=on, roles={Role.GRID_WORKER})
    assert keys(tagged, mine) == {"a1x", "a1x_never"}


def test_work_counts_count_people_once(world, role_users, tagged):
    worker = role_users[Role.GRID_WORKER]
    # The A1x elder's disabled tag gets a weekly schedule too: still one person overdue.
    care.set_visit_schedule(None, tagged["a1x_disabled"], 7)
    with freeze_time("2026-11-10 09:00:00+08:00"):
        counts = care.care_work_counts(worker)
        assert care.overdue_visits(worker).count() == 3
    assert counts == {"overdue": 2, "due_soon": 0}


def test_counts_by_grid_in_one_query(role_users, tagged):
    street = role_users[Role.STREET_STAFF]
    assert street.scope.prefixes  # the grants load once per request, before the page's queries
    with CaptureQueriesContext(connection) as queries:
        rows = care.counts_by_grid(street, on=date(2026, 11, 10))
    assert len(queries) == 1
    by_grid = {row["name"]: row for row in rows}
    assert set(by_grid) == {"香水园第一网格", "香水园第二网格"}  # not street B's grid
    a1x, a1y = by_grid["香水园第一网格"], by_grid["香水园第二网格"]
    assert a1x["counts"][G.ELDERLY_ALONE] == 2 and a1x["counts"][G.DISABLED] == 1
    assert a1x["counts"][G.VETERAN] == 0
    assert (a1x["total"], a1x["overdue"]) == (3, 2)
    assert a1y["counts"][G.VETERAN] == 1 and (a1y["total"], a1y["overdue"]) == (2, 1)
    assert set(a1x["counts"]) == set(CareGroup.values)


def test_counts_by_grid_for_a_grid_worker_and_nobody(role_users, tagged):
    rows = care.counts_by_grid(role_users[Role.GRID_WORKER])
    assert [row["name"] for row in rows] == ["香水园第一网格"]
    assert care.counts_by_grid(role_users[Role.DEPARTMENT_STAFF]) == []
    assert care.counts_by_grid(role_users[Role.RESIDENT]) == []


def test_care_list_filters(world, role_users, tagged):
    street = role_users[Role.STREET_STAFF]
    assert keys(tagged, care.care_list(street, group=G.VETERAN)) == {"a1y_veteran"}
    assert keys(tagged, care.care_list(street, grid_code=world.grid_a1y.code)) == {
        "a1y",
        "a1y_veteran",
    }
    by_name = care.care_list(street, q=world.persons["a1x"].name)
    assert keys(tagged, by_name) == {"a1x", "a1x_disabled"}
    overdue = care.care_list(street, state="overdue", on=date(2026, 11, 10))
    assert keys(tagged, overdue) == {"a1x", "a1x_never", "a1y"}
    assert keys(tagged, care.care_list(street, state="unscheduled")) == {
        "a1x_disabled",
        "a1y_veteran",
    }
    # Street B's grid is not the street A user's, even when asked for by code.
    assert list(care.care_list(street, grid_code=world.grid_b1x.code)) == []


def test_visit_log_in_scope_and_filtered(world, role_users, tagged):
    care.record_visit(
        None, person=world.persons["a1x"], kind="routine", visited_at=at("2026-11-05")
    )
    worker, street = role_users[Role.GRID_WORKER], role_users[Role.STREET_STAFF]
    mine = care.visit_log(worker)
    assert {v.territory_code for v in mine} == {world.grid_a1x.code}
    assert [v.visited_at for v in mine] == [at("2026-11-05"), at("2026-11-02")]  # newest first
    assert care.visit_log(street).count() == 3  # A1x twice, A1y
    assert care.visit_log(street, grid_code=world.grid_a1y.code).count() == 1
    assert care.visit_log(street, kind=Visit.Kind.ROUTINE).count() == 1
    assert care.visit_log(street, person_id=world.persons["a1x"].pk).count() == 2
    assert care.visit_log(street, since=date(2026, 11, 3)).count() == 1
    assert care.visit_log(street, until=date(2026, 11, 2)).count() == 2
    assert care.visit_log(role_users[Role.DEPARTMENT_STAFF]).count() == 0


def test_visit_log_dates_are_beijing_dates(world, role_users, tagged):
    """Midnight of 3 November in Beijing is still 2 November in UTC."""
    care.record_visit(
        None, person=world.persons["a1x"], kind="routine", visited_at=at("2026-11-03", 0)
    )
    street = role_users[Role.STREET_STAFF]
    assert care.visit_log(street, since=date(2026, 11, 3)).count() == 1


def test_care_by_building_names_groups_not_people(world, role_users, tagged):
    building = world.buildings["a1x"]
    building.lat, building.lng = 40.46, 115.96
    building.save()
    rows = care.care_by_building(role_users[Role.STREET_STAFF])
    assert rows == [
        {
            "building": building.pk,
            "name": building.name,
            "lat": 40.46,
            "lng": 115.96,
            "counts": {G.ELDERLY_ALONE: 2, G.DISABLED: 1},
        }
    ]  # A1y's building has no coordinates: not on the map
    assert care.care_by_building(role_users[Role.STREET_STAFF], group=G.DISABLED)[0]["counts"] == {
        G.DISABLED: 1
    }
    assert care.care_by_building(role_users[Role.DEPARTMENT_STAFF]) == []

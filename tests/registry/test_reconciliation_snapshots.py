"""Daily snapshots: one per community and grid and day, idempotent, reconciled first; the
periodic job; the trend over days."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.jobs.base import PERIODIC_JOBS
from jiedao.registry.models import ReconciliationSnapshot, Residence
from jiedao.registry.reconciliation import (
    COMMUNITY,
    GRID,
    reconcile_daily,
    reconcile_now,
    take_snapshots,
    trend,
)
from tests.registry.reconciliation_fixtures import (
    dwellings_in,
    person,
    registered_households,
    residence,
    stale,
)

DAY = date(2026, 3, 2)


def snapshots(**filters):
    with unscoped():
        return list(ReconciliationSnapshot.objects.filter(**filters).order_by("territory_code"))


def test_one_snapshot_per_community_and_grid(world):
    registered_households(world.grid_a1x, total=28, consistent=15)
    written = take_snapshots(DAY)
    codes = [s.territory_code for s in snapshots(taken_on=DAY)]
    nodes = [world.community_a1, world.community_a2, world.community_b1]
    nodes += [world.grid_a1x, world.grid_a1y, world.grid_a2x, world.grid_b1x]
    assert written == 7
    assert codes == sorted(n.code for n in nodes)
    (grid,) = snapshots(taken_on=DAY, territory_code=world.grid_a1x.code)
    assert (grid.registered_households, grid.consistent_households) == (28, 15)
    assert (grid.persons, grid.consistent, grid.registered_not_living) == (44, 16, 28)
    (community,) = snapshots(taken_on=DAY, territory_code=world.community_a1.code)
    assert (community.persons, community.consistent) == (45, 17)


def test_a_second_run_the_same_day_updates_the_same_rows(world):
    take_snapshots(DAY)
    first = {s.territory_code: s.pk for s in snapshots(taken_on=DAY)}
    person(None, dwellings_in(world.grid_a1y, 1)[0])
    take_snapshots(DAY)
    again = snapshots(taken_on=DAY)
    assert {s.territory_code: s.pk for s in again} == first
    (grid,) = [s for s in again if s.territory_code == world.grid_a1y.code]
    assert (grid.persons, grid.registered_not_living) == (2, 1)


def test_snapshots_reconcile_first(world):
    p = world.persons["a1x"]
    stale(p, value=Residence.GONE)
    take_snapshots(DAY)
    assert residence(p) == Residence.CONSISTENT
    (grid,) = snapshots(taken_on=DAY, territory_code=world.grid_a1x.code)
    assert grid.consistent == 1


def test_a_snapshot_of_a_street_leaves_other_streets_alone(world, role_users):
    stale(world.persons["b1x"])
    reconcile_now(role_users[Role.STREET_STAFF], world.street_a.scope_prefix)
    today = timezone.localdate()
    assert len(snapshots(taken_on=today)) == 5  # 2 communities and 3 grids of street A
    assert residence(world.persons["b1x"]) == Residence.UNKNOWN
    entry = AuditEntry.all_objects.get(action="registry.reconcile")
    assert entry.actor == role_users[Role.STREET_STAFF]


def test_the_daily_job_is_registered_and_runs(world):
    periodic = PERIODIC_JOBS["registry.reconcile"]
    assert periodic.every == timedelta(hours=24)
    assert periodic.task_path == "jiedao.registry.reconciliation.reconcile_daily"
    stale(world.persons["a2x"])
    result = reconcile_daily.call()
    assert result == {"changed": 1, "snapshots": 7}
    assert residence(world.persons["a2x"]) == Residence.CONSISTENT


def test_trend_adds_up_the_visible_snapshots_per_day(world, role_users):
    registered_households(world.grid_a1x, total=2, consistent=1)
    take_snapshots(DAY - timedelta(days=1))
    registered_households(world.grid_a1y, total=2, consistent=2)
    take_snapshots(DAY)
    community_staff = role_users[Role.WORKSTATION_STAFF]
    with_time = timezone.localdate()
    days = trend(community_staff, COMMUNITY, days=(with_time - DAY).days + 2)
    assert [d.code for d in days] == [(DAY - timedelta(days=1)).isoformat(), DAY.isoformat()]
    assert [(d.registered_households, d.consistent_households) for d in days] == [(2, 1), (4, 3)]
    grids = trend(role_users[Role.GRID_WORKER], GRID, days=(with_time - DAY).days + 2)
    assert [(d.registered_households, d.consistent_households) for d in grids] == [(2, 1)] * 2
    # A grid worker never sees the community's snapshots.
    assert trend(role_users[Role.GRID_WORKER], COMMUNITY, days=(with_time - DAY).days + 2) == []

"""The demo street's grid purposes, grid-worker assignments and two months of patrols, on a small
generated world (with its case history, so patrol cases become findings)."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pytest
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from shapely.geometry import shape

from jiedao.cases.models import Case, Channel
from jiedao.core.geo import haversine_m
from jiedao.core.scopes import unscoped
from jiedao.demo import fieldwork
from jiedao.demo import grids as demo_grids
from jiedao.demo.world import Plan, WorldBuilder
from jiedao.fieldwork.models import Patrol, PatrolFinding, TrackPoint
from jiedao.territory.models import Grid, GridPurpose, GridWorker, validate_purposes
from jiedao.workdays.calendar import SHANGHAI, calendar_for_code, is_working_day, local_date

pytestmark = pytest.mark.django_db
SCALE = 0.05


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """One small world for the module, rolled back afterwards."""
    with django_db_blocker.unblock(), transaction.atomic(), translation.override("en"):
        builder = WorldBuilder(Plan.for_scale(2026, SCALE))
        builder.build()
        with unscoped():
            yield builder
        transaction.set_rollback(True)


def _track(patrol: Patrol) -> list[TrackPoint]:
    return list(TrackPoint.all_objects.filter(patrol=patrol).order_by("recorded_at"))


# --- Purposes --------------------------------------------------------------------------------


def test_every_grid_has_purposes_governance_everywhere_and_some_have_three(demo):
    grids = list(Grid.all_objects.filter(community__street=demo.street))
    assert len(grids) >= 9
    for grid in grids:
        validate_purposes(grid.purposes)
        assert grid.purposes, grid.code
        assert GridPurpose.GOVERNANCE in grid.purposes
        assert grid.purposes == [p for p in GridPurpose.values if p in grid.purposes]  # order
    assert any(len(grid.purposes) >= 3 for grid in grids)
    tally = Counter(p for grid in grids for p in grid.purposes)
    assert tally[GridPurpose.PARTY] >= len(grids) * 0.7  # a branch of 3+ in most grids
    assert 0 < tally[GridPurpose.EMERGENCY] < len(grids)  # a few
    assert 0 < tally[GridPurpose.CITY] < len(grids)


def test_purposes_follow_what_the_grid_holds():
    rng = random.Random(1)
    facts = demo_grids.GridFacts
    assert demo_grids.purposes_for(facts(), random.Random(3)) in (
        ["governance"],
        ["governance", "city"],
    )
    assert "party" in demo_grids.purposes_for(facts(party_members=3), rng)
    assert "party" not in demo_grids.purposes_for(facts(party_members=2), rng)
    assert "city" in demo_grids.purposes_for(facts(commercial_buildings=1), rng)
    assert "city" in demo_grids.purposes_for(facts(enterprises=3), rng)
    assert "emergency" in demo_grids.purposes_for(facts(riverside=True), rng)
    draws = [demo_grids.purposes_for(facts(crowded=True), rng) for _ in range(200)]
    share = sum("emergency" in d for d in draws) / len(draws)
    assert 0.35 < share < 0.65  # about half of the grids with a school or hospital


def test_the_riverside_grids_carry_emergency(demo):
    facts = demo_grids.grid_facts(demo.street)
    riverside = [code for code, f in facts.items() if f.riverside]
    assert riverside  # community 1 lies on 妫水北街 / 妫水南街
    for code in riverside:
        assert GridPurpose.EMERGENCY in Grid.all_objects.get(code=code).purposes


# --- Grid-worker assignments -----------------------------------------------------------------


def test_every_grid_has_one_full_time_worker_and_the_demo_login_is_it_on_grid_1(demo):
    grids = Grid.all_objects.filter(community__street=demo.street)
    for grid in grids:
        current = GridWorker.all_objects.filter(grid=grid, until__isnull=True)
        assert current.filter(kind=GridWorker.Kind.FULL_TIME).count() == 1, grid.code
        for assignment in current:
            assert assignment.territory_code == grid.code
            assert assignment.since <= timezone.localdate() - timedelta(days=365)
    first = GridWorker.all_objects.get(grid__code="110119001001001", user__username="gridworker")
    assert first.kind == GridWorker.Kind.FULL_TIME
    other = GridWorker.all_objects.get(grid__code="110119001001001", user__username="gw-001-001")
    assert other.kind == GridWorker.Kind.PART_TIME


# --- Patrols ---------------------------------------------------------------------------------


def test_the_grid_worker_login_patrolled_most_working_days_of_two_months(demo):
    patrols = Patrol.all_objects.filter(worker__username="gridworker")
    assert patrols.exists()
    calendar = calendar_for_code(demo.street.code)
    today = timezone.localdate()
    first = today - timedelta(days=fieldwork.WINDOW_DAYS - 1)
    working = [
        first + timedelta(days=k)
        for k in range(fieldwork.WINDOW_DAYS - 1)  # today's round may not be over yet
        if is_working_day(first + timedelta(days=k), calendar)
    ]
    days = {local_date(p.started_at) for p in patrols}
    assert days <= set(working) | {today}
    assert 0.75 * len(working) <= len(days & set(working)) < len(working) + 1
    assert patrols.filter(grid__code="110119001001001").count() == patrols.count()


def test_no_patrol_is_open_and_each_lasts_one_to_two_hours(demo):
    assert not Patrol.all_objects.filter(ended_at__isnull=True).exists()
    now = timezone.now()
    for patrol in Patrol.all_objects.all():
        minutes = (patrol.ended_at - patrol.started_at).total_seconds() / 60
        assert 55 <= minutes <= 125, patrol.pk
        assert patrol.ended_at <= now


def test_distance_and_point_count_match_the_stored_points(demo):
    patrols = list(Patrol.all_objects.order_by("pk"))
    counted = Counter(TrackPoint.all_objects.values_list("patrol_id", flat=True))
    assert sum(counted.values()) == sum(p.point_count for p in patrols)
    for patrol in patrols:
        assert counted[patrol.pk] == patrol.point_count
    for patrol in patrols[::10]:
        track = _track(patrol)
        length = sum(haversine_m(a.lng, a.lat, b.lng, b.lat) for a, b in itertools.pairwise(track))
        assert abs(length - patrol.distance_m) <= 1, patrol.pk


def test_tracks_walk_inside_the_grid_at_a_plausible_pace(demo):
    boundaries = dict(Grid.all_objects.values_list("pk", "boundary"))
    for patrol in Patrol.all_objects.order_by("pk")[::7]:
        track = _track(patrol)
        grid = shape(boundaries[patrol.grid_id])
        assert all(
            grid.contains(shape({"type": "Point", "coordinates": [p.lng, p.lat]})) for p in track
        )
        assert track[0].recorded_at == patrol.started_at
        assert track[-1].recorded_at == patrol.ended_at
        gaps = np.array(
            [(b.recorded_at - a.recorded_at).total_seconds() for a, b in itertools.pairwise(track)]
        )
        steps = np.array(
            [haversine_m(a.lng, a.lat, b.lng, b.lat) for a, b in itertools.pairwise(track)]
        )
        assert (gaps > 0).all()
        assert 25 <= np.median(gaps) <= 35  # a fix every ~30 s at this scale
        assert (steps / gaps).max() < 2.5  # nobody runs
        pace = steps.sum() / gaps.sum()
        assert 0.8 <= pace <= 1.5, (patrol.pk, pace)
        assert all(p.flag == "" and 3 <= p.accuracy_m <= 15 for p in track)


def test_territory_codes_are_those_of_the_grid(demo):
    codes = dict(Grid.all_objects.values_list("pk", "code"))
    for patrol in Patrol.all_objects.all():
        assert patrol.territory_code == codes[patrol.grid_id]
    mismatched = TrackPoint.all_objects.exclude(territory_code=F("patrol__territory_code"))
    assert not mismatched.exists()
    for finding in PatrolFinding.all_objects.select_related("patrol", "case"):
        assert (
            finding.territory_code == finding.patrol.territory_code == finding.case.territory_code
        )


def test_findings_are_the_workers_own_patrol_cases_during_the_round(demo):
    findings = list(PatrolFinding.all_objects.select_related("patrol", "case"))
    assert findings
    for finding in findings:
        case, patrol = finding.case, finding.patrol
        assert case.channel == Channel.PATROL
        assert case.grid_id == patrol.grid_id and case.reporter_id == patrol.worker_id
        assert patrol.started_at <= case.created_at <= patrol.ended_at
        assert patrol.note
    # Most patrol cases of the window by a worker with an assignment became findings.
    since = datetime.combine(
        timezone.localdate() - timedelta(days=fieldwork.WINDOW_DAYS - 1),
        datetime.min.time(),
        tzinfo=SHANGHAI,
    )
    assigned = set(GridWorker.all_objects.values_list("user_id", "grid_id"))
    window = [
        c
        for c in Case.all_objects.filter(
            channel=Channel.PATROL, created_at__gte=since, reporter__isnull=False
        )
        if (c.reporter_id, c.grid_id) in assigned
        and c.created_at <= timezone.now() - timedelta(hours=2)
    ]
    linked = {f.case_id for f in findings}
    assert len([c for c in window if c.pk in linked]) >= 0.8 * len(window)


def test_the_same_seed_gives_the_same_patrols(demo):
    now = datetime(2026, 11, 18, 18, 0, tzinfo=SHANGHAI)

    def snapshot() -> list[tuple]:
        with transaction.atomic():
            TrackPoint.all_objects.all().delete()
            PatrolFinding.all_objects.all().delete()
            Patrol.all_objects.all().delete()
            counts = fieldwork.build_patrols(demo.street, random.Random(5), now.date(), now=now)
            rows = list(
                Patrol.all_objects.order_by("started_at", "worker_id").values_list(
                    "worker_id", "grid_id", "started_at", "ended_at", "distance_m", "point_count"
                )
            )
            points = list(
                TrackPoint.all_objects.order_by("patrol__started_at", "recorded_at").values_list(
                    "lng", "lat"
                )[:500]
            )
            transaction.set_rollback(True)
        return [counts, rows, points]

    first, again = snapshot(), snapshot()
    assert first == again
    assert first[0]["patrol"] == len(first[1]) > 0


def test_larger_worlds_get_fewer_points_per_round():
    assert fieldwork.points_cap(1) == fieldwork.points_cap(0.05) == fieldwork.MAX_POINTS
    assert fieldwork.points_cap(10) == fieldwork.MIN_POINTS
    boundary = {
        "type": "Polygon",
        "coordinates": [
            [[116.0, 40.0], [116.01, 40.0], [116.01, 40.01], [116.0, 40.01], [116.0, 40.0]]
        ],
    }
    walker = fieldwork.Walker(boundary)
    sparse = walker.track(np.random.default_rng(1), 7200, fieldwork.points_cap(10))
    dense = walker.track(np.random.default_rng(1), 7200, fieldwork.points_cap(1))
    assert len(sparse.seconds) == fieldwork.MIN_POINTS and len(dense.seconds) == 240
    # The same kind of walk sampled more sparsely: the straight lines between fixes cut corners.
    assert 0.8 <= dense.distance_m / dense.seconds[-1] <= 1.6
    assert 0.4 <= sparse.distance_m / sparse.seconds[-1] <= 1.6


def test_the_field_work_track_rules_keep_every_demo_fix_and_agree_on_the_distance(demo):
    """Judged by the field-work app's own rules (track.assess), no demo fix is left out and the
    distance is the one stored."""
    track_rules = pytest.importorskip("jiedao.fieldwork.track")
    for patrol in Patrol.all_objects.order_by("pk")[::9]:
        fixes = [track_rules.Fix(p.recorded_at, p.lng, p.lat, p.accuracy_m) for p in _track(patrol)]
        judged = track_rules.assess(fixes)
        assert judged.flagged == 0 and judged.used == patrol.point_count
        assert abs(judged.distance_m - patrol.distance_m) <= 1, patrol.pk
        assert patrol.flagged_count == 0

"""Field-work services with numbers: patrols, the track upload (duplicates, order, flags, bad
input), idempotent forms, findings and household visits."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.fieldwork import services, track
from jiedao.fieldwork.models import Patrol, PatrolFinding, SentForm, TrackPoint
from jiedao.registry import care
from jiedao.registry.models import Visit
from tests import factories as f
from tests.fieldwork.conftest import inside, iso, make_patrol, walk

pytestmark = pytest.mark.django_db

KEY = "0123456789abcdef0123456789abcdef"
OTHER_KEY = "fedcba9876543210fedcba9876543210"


def stored(patrol) -> list[tuple]:
    with unscoped():
        return list(
            TrackPoint.objects.filter(patrol=patrol)
            .order_by("recorded_at")
            .values_list("recorded_at", "lng", "lat", "accuracy_m", "flag")
        )


def fresh(patrol) -> Patrol:
    return Patrol.all_objects.get(pk=patrol.pk)


def audit(action: str) -> list[AuditEntry]:
    with unscoped():
        return list(AuditEntry.objects.filter(action=action).order_by("seq"))


# --- Starting and ending ----------------------------------------------------------------------


def test_a_grid_worker_starts_a_patrol_in_their_grid(world, worker):
    patrol = services.start_patrol(worker, world.grid_a1x, KEY)
    assert patrol.worker == worker and patrol.grid == world.grid_a1x
    assert patrol.territory_code == world.grid_a1x.code and patrol.ended_at is None
    assert [e.object_id for e in audit("fieldwork.patrol.start")] == [str(patrol.pk)]


def test_the_same_start_sent_twice_makes_one_patrol(world, worker):
    first = services.start_patrol(worker, world.grid_a1x, KEY)
    again = services.start_patrol(worker, world.grid_a1x, KEY)
    assert again.pk == first.pk
    assert Patrol.all_objects.count() == 1 and len(audit("fieldwork.patrol.start")) == 1


def test_one_open_patrol_at_a_time(world, worker):
    services.start_patrol(worker, world.grid_a1x, KEY)
    with pytest.raises(ValidationError) as caught:
        services.start_patrol(worker, world.grid_a1x, OTHER_KEY)
    assert caught.value.code == "open_patrol"
    assert Patrol.all_objects.count() == 1


def test_a_start_racing_its_resend_returns_the_winner(world, worker, monkeypatch):
    """Two arrivals of one start at the same moment: the second does not see the first's key
    yet, inserts, and meets the unique constraint (one open patrol per worker); it rolls back
    and answers with the first patrol."""
    first = services.start_patrol(worker, world.grid_a1x, KEY)
    real_sent, real_open = services._sent, services.selectors.open_patrol
    calls = {"n": 0}

    def late_sent(actor, key, kind):
        calls["n"] += 1
        return None if calls["n"] == 1 else real_sent(actor, key, kind)

    monkeypatch.setattr(services, "_sent", late_sent)
    monkeypatch.setattr(services.selectors, "open_patrol", lambda actor: None)
    again = services.start_patrol(worker, world.grid_a1x, KEY)
    assert again.pk == first.pk
    monkeypatch.setattr(services.selectors, "open_patrol", real_open)
    assert Patrol.all_objects.count() == 1 and SentForm.objects.count() == 1


@pytest.mark.parametrize("grid", ["grid_a1y", "grid_b1x"])
def test_not_in_another_grid(world, worker, grid):
    with pytest.raises(PermissionDenied):
        services.start_patrol(worker, getattr(world, grid), KEY)
    assert Patrol.all_objects.count() == 0


@pytest.mark.parametrize("role", [r for r in Role if r != Role.GRID_WORKER])
def test_only_grid_workers_patrol(world, role_users, role):
    with pytest.raises(PermissionDenied):
        services.start_patrol(role_users[role], world.grid_a1x, KEY)


@pytest.mark.parametrize("key", ["short", "x" * 65, "has space in it!", "汉字汉字汉字汉字"])
def test_a_bad_key_is_refused(world, worker, key):
    with pytest.raises(ValidationError):
        services.start_patrol(worker, world.grid_a1x, key)


def test_a_key_used_for_another_form_is_refused(world, worker):
    patrol = services.start_patrol(worker, world.grid_a1x, KEY)
    with pytest.raises(ValidationError) as caught:
        services.end_patrol(worker, patrol, "", KEY)
    assert caught.value.code == "key_reused"
    assert fresh(patrol).ended_at is None


def test_the_phones_time_is_used_when_recent(world, worker):
    tapped = timezone.now() - timedelta(minutes=20)
    patrol = services.start_patrol(worker, world.grid_a1x, KEY, at=iso(tapped))
    assert abs(patrol.started_at - tapped) < timedelta(milliseconds=1)
    ended = services.end_patrol(worker, patrol, "", OTHER_KEY, at="2020-01-01T00:00:00Z")
    assert timezone.now() - ended.ended_at < timedelta(seconds=5)  # too old: the server's time


def test_ending_a_patrol(world, worker):
    patrol = services.start_patrol(worker, world.grid_a1x, KEY)
    ended = services.end_patrol(worker, patrol, "  查看消防通道  ", OTHER_KEY)
    assert ended.ended_at is not None and ended.note == "查看消防通道"
    again = services.end_patrol(worker, patrol, "changed", OTHER_KEY)  # a resend
    assert again.ended_at == ended.ended_at and fresh(patrol).note == "查看消防通道"
    assert len(audit("fieldwork.patrol.end")) == 1
    with pytest.raises(ValidationError) as caught:
        services.end_patrol(worker, patrol, "", "another-key-0001")
    assert caught.value.code == "ended"
    services.start_patrol(worker, world.grid_a1x, "next-patrol-key")  # a new one may begin


def test_only_the_patrols_worker_ends_it(world, worker, workers, role_users):
    patrol = services.start_patrol(worker, world.grid_a1x, KEY)
    for other in (
        workers["a1x_colleague"],
        role_users[Role.WORKSTATION_STAFF],
        role_users[Role.SYSTEM_ADMIN],
    ):
        with pytest.raises(PermissionDenied):
            services.end_patrol(other, patrol, "", OTHER_KEY)
    assert fresh(patrol).ended_at is None


def test_a_note_too_long_is_refused(world, worker):
    patrol = services.start_patrol(worker, world.grid_a1x, KEY)
    with pytest.raises(ValidationError):
        services.end_patrol(worker, patrol, "x" * (services.MAX_NOTE + 1), OTHER_KEY)
    assert fresh(patrol).ended_at is None


def test_notes_are_cleaned_once_by_the_registrys_rule(world, worker, monkeypatch):
    """A patrol's note and a visit's note go through registry.care's note rule, once each."""
    calls = []
    real = care.clean_note
    monkeypatch.setattr(
        care, "clean_note", lambda note, limit: calls.append(limit) or real(note, limit)
    )
    patrol = services.start_patrol(worker, world.grid_a1x, KEY)
    assert services.end_patrol(worker, patrol, "  看过了 ", OTHER_KEY).note == "看过了"
    assert calls == [care.MAX_VISIT_NOTE]
    visit = services.record_household_visit(
        worker, world.persons["a1x"].household, "  走访 ", "visit-key-0001"
    )
    assert visit.note == "走访" and calls == [care.MAX_VISIT_NOTE] * 2
    assert not hasattr(services, "_clean_note") and not hasattr(services, "open_patrol_of")


def test_a_start_queued_offline_never_reaches_back_into_the_previous_patrol(world, worker):
    """The phone queued "start" while offline two hours ago, but the previous patrol only
    ended an hour ago: the new one starts at that end, so no hour is counted twice."""
    now = timezone.now()
    previous = make_patrol(
        worker,
        world.grid_a1x,
        started_at=now - timedelta(hours=3),
        ended_at=now - timedelta(hours=1),
    )
    patrol = services.start_patrol(worker, world.grid_a1x, KEY, at=iso(now - timedelta(hours=2)))
    assert patrol.started_at == previous.ended_at
    services.end_patrol(worker, patrol, "", OTHER_KEY, at=iso(now - timedelta(minutes=40)))
    tapped = now - timedelta(minutes=30)  # after the end: the phone's time stands
    later = services.start_patrol(worker, world.grid_a1x, "third-patrol-key", at=iso(tapped))
    assert abs(later.started_at - tapped) < timedelta(milliseconds=1)


def test_a_worker_moved_to_another_grid_still_ends_their_patrol(world, worker):
    patrol = services.start_patrol(worker, world.grid_a1x, KEY)
    RoleGrant.objects.filter(user=worker).update(revoked_at=timezone.now())
    RoleGrant.objects.create(user=worker, role=Role.GRID_WORKER, grid=world.grid_a1y)
    worker.clear_grant_cache()
    with pytest.raises(PermissionDenied):  # no longer records in the old grid …
        services.record_household_visit(
            worker, world.persons["a1x"].household, "走访", "v-key-0001"
        )
    ended = services.end_patrol(worker, patrol, "交接", OTHER_KEY)  # … but ends the patrol
    assert ended.ended_at is not None and ended.note == "交接"
    new = services.start_patrol(worker, world.grid_a1y, "next-patrol-key")
    assert new.grid == world.grid_a1y


# --- A supervisor closes a patrol left open ---------------------------------------------------


def test_a_supervisor_closes_a_patrol_at_its_last_fix(world, worker, role_users):
    start = timezone.now() - timedelta(hours=5)
    patrol = make_patrol(worker, world.grid_a1x, started_at=start)
    services.record_track(
        worker, patrol, walk(start + timedelta(minutes=1), 6, inside(world.grid_a1x))
    )
    supervisor = role_users[Role.WORKSTATION_STAFF]
    closed = services.close_patrol(supervisor, patrol)
    last_fix = start + timedelta(minutes=1, seconds=50)
    assert abs(closed.ended_at - last_fix) < timedelta(milliseconds=1)
    assert fresh(patrol).ended_at == closed.ended_at
    [entry] = audit("fieldwork.patrol.close")
    assert entry.actor == supervisor and entry.object_id == str(patrol.pk)
    assert entry.before["ended_at"] is None and entry.after["closed_by"] == supervisor.pk
    with pytest.raises(ValidationError) as caught:
        services.close_patrol(supervisor, patrol)
    assert caught.value.code == "ended" and len(audit("fieldwork.patrol.close")) == 1


def test_a_patrol_closed_without_a_track_ends_at_its_start(world, worker, role_users):
    patrol = make_patrol(worker, world.grid_a1x, started_at=timezone.now() - timedelta(days=2))
    closed = services.close_patrol(role_users[Role.STREET_LEADER], patrol)
    assert closed.ended_at == patrol.started_at


def test_a_patrol_closed_late_counts_at_most_twelve_hours(world, worker, role_users):
    start = timezone.now() - timedelta(hours=20)
    patrol = make_patrol(worker, world.grid_a1x, started_at=start)
    services.record_track(
        worker, patrol, walk(start + timedelta(hours=15), 3, inside(world.grid_a1x))
    )
    closed = services.close_patrol(role_users[Role.DISTRICT_ADMIN], patrol)
    assert closed.ended_at == start + services.MAX_CLOSED_PATROL


def test_who_closes_a_patrol(world, worker, workers, role_users):
    patrol = make_patrol(worker, world.grid_a1x)
    outsider = f.user_with_role(Role.STREET_STAFF, world.street_b, username="street_b")
    for actor in (
        worker,  # the worker ends it, with the end form
        workers["a1x_colleague"],
        outsider,
        role_users[Role.COMMITTEE_MEMBER],
        role_users[Role.RESIDENT],
        role_users[Role.DEPARTMENT_STAFF],
    ):
        with pytest.raises(PermissionDenied):
            services.close_patrol(actor, patrol)
    assert fresh(patrol).ended_at is None


# --- The track --------------------------------------------------------------------------------


@pytest.fixture
def patrol(world, worker):
    return make_patrol(worker, world.grid_a1x, started_at=timezone.now() - timedelta(hours=2))


def origin(world):
    return inside(world.grid_a1x)


def test_a_known_track_gives_its_distance(world, worker, patrol):
    points = walk(patrol.started_at + timedelta(minutes=1), 31, origin(world), step_m=10)
    result = services.record_track(worker, patrol, points)
    assert (result.accepted, result.duplicate, result.rejected) == (31, 0, [])
    assert result.distance_m == 300 and result.point_count == 31 and result.flagged_count == 0
    patrol = fresh(patrol)
    assert (patrol.distance_m, patrol.point_count, patrol.flagged_count) == (300, 31, 0)
    entry = audit("fieldwork.track.upload")[-1]
    assert entry.after["accepted"] == 31 and entry.after["distance_m"] == 300


def test_duplicates_are_counted_and_stored_once(world, worker, patrol):
    points = walk(patrol.started_at + timedelta(minutes=1), 10, origin(world))
    first = services.record_track(worker, patrol, points[:6])
    again = services.record_track(worker, patrol, points[3:] + points[3:5])  # 3 stored, 2 twice
    assert (first.accepted, first.duplicate) == (6, 0)
    assert (again.accepted, again.duplicate) == (4, 5)
    assert len(stored(patrol)) == 10 and again.distance_m == 90
    nothing_new = services.record_track(worker, patrol, points)
    assert (nothing_new.accepted, nothing_new.duplicate) == (0, 10)
    assert len(audit("fieldwork.track.upload")) == 2  # nothing written, nothing audited


def test_out_of_order_batches_give_the_same_track(world, worker, patrol, workers):
    points = walk(patrol.started_at + timedelta(minutes=1), 20, origin(world), step_m=8)
    shuffled = points[:]
    random.Random(7).shuffle(shuffled)
    for i in range(0, 20, 6):
        services.record_track(worker, patrol, shuffled[i : i + 6])
    reference = make_patrol(
        worker, world.grid_a1x, started_at=patrol.started_at, ended_at=timezone.now()
    )
    services.record_track(worker, reference, points)
    assert stored(patrol) == stored(reference)
    assert fresh(patrol).distance_m == fresh(reference).distance_m == 152


def test_later_fixes_can_clear_a_jump(world, worker, patrol):
    """Flags are judged on the whole track after every upload: a fix far ahead looks like a
    jump until the fixes after it show the worker really is there (a gap, then walking on)."""
    start = patrol.started_at + timedelta(minutes=1)
    points = walk(start, 4, origin(world), step_m=10)  # 0, 10, 20, 30 m at 0–30 s
    ahead = walk(start + timedelta(seconds=40), 4, origin(world), step_m=10)
    for i, point in enumerate(ahead):  # 180, 190, 200, 210 m at 40–70 s
        lng0 = points[0]["lng"]
        point["lng"] = round(lng0 + (points[1]["lng"] - lng0) * (18 + i), 7)
    first = services.record_track(worker, patrol, points + ahead[:1])  # 15 m/s to 180 m
    assert (first.point_count, first.flagged_count, first.distance_m) == (4, 1, 30)
    later = services.record_track(worker, patrol, ahead[1:])
    assert (later.point_count, later.flagged_count) == (8, 0)
    assert later.distance_m == 60  # two walks of 30 m; the 150 m leap between is a gap
    assert [row[4] for row in stored(patrol)] == [""] * 8


def test_inaccurate_and_jumping_fixes_are_flagged(world, worker, patrol):
    points = walk(patrol.started_at + timedelta(minutes=1), 10, origin(world), step_m=10)
    points[2]["accuracy"] = 80  # too inaccurate
    lng, lat = points[6]["lng"], points[6]["lat"]
    points[6] = {**points[6], "lng": lng + 0.02, "lat": lat}  # ~1.7 km off for one fix
    result = services.record_track(worker, patrol, points)
    assert (result.point_count, result.flagged_count) == (8, 2)
    flags = {row[0]: row[4] for row in stored(patrol)}
    assert sorted(flags.values()) == ["", "", "", "", "", "", "", "", track.INACCURATE, track.JUMP]
    assert result.distance_m == 90  # the walk itself, around both


def test_bad_points_are_rejected_with_reasons_and_good_ones_kept(world, worker, patrol):
    good = walk(patrol.started_at + timedelta(minutes=1), 3, origin(world))
    batch = [
        good[0],
        {"t": good[1]["t"], "lat": "40", "lng": 116},
        "not a point",
        {**good[1], "t": iso(timezone.now() + timedelta(hours=1))},
        {**good[1], "lng": 2.35, "lat": 48.85},
        good[2],
    ]
    result = services.record_track(worker, patrol, batch)
    assert result.accepted == 2
    assert [(r["index"], r["code"]) for r in result.rejected] == [
        (1, "coordinates"),
        (2, "not_object"),
        (3, "future"),
        (4, "outside_china"),
    ]
    assert len(stored(patrol)) == 2


def test_an_all_bad_batch_stores_nothing_and_is_not_an_error(world, worker, patrol):
    result = services.record_track(worker, patrol, [{"t": "x"}, 5, None])
    assert result.accepted == 0 and len(result.rejected) == 3
    assert stored(patrol) == [] and audit("fieldwork.track.upload") == []


@pytest.mark.parametrize("points", [{"t": "x"}, "points", None, 3])
def test_a_malformed_request_stores_nothing(world, worker, patrol, points):
    with pytest.raises(ValidationError):
        services.record_track(worker, patrol, points)
    assert stored(patrol) == []


def test_too_many_points_at_once(world, worker, patrol):
    points = walk(patrol.started_at, services.MAX_BATCH + 1, origin(world), every_s=1)
    with pytest.raises(ValidationError) as caught:
        services.record_track(worker, patrol, points)
    assert caught.value.code == "batch_size" and stored(patrol) == []


def test_an_unknown_coordinate_system(world, worker, patrol):
    with pytest.raises(ValidationError):
        services.record_track(worker, patrol, [], crs="utm")


def test_same_time_different_place_keeps_the_most_accurate(world, worker, patrol):
    t = iso(patrol.started_at + timedelta(minutes=2))
    lng, lat = origin(world)
    batch = [
        {"t": t, "lng": lng, "lat": lat, "accuracy": 20},
        {"t": t, "lng": lng + 0.0001, "lat": lat, "accuracy": 4},
    ]
    result = services.record_track(worker, patrol, batch)
    assert (result.accepted, result.duplicate) == (1, 1)
    assert stored(patrol)[0][1:4] == (round(lng + 0.0001, 7), lat, 4.0)


def test_an_ended_patrol_takes_late_points_from_before_its_end(world, worker):
    start = timezone.now() - timedelta(hours=2)
    patrol = make_patrol(
        worker, world.grid_a1x, started_at=start, ended_at=start + timedelta(hours=1)
    )
    before_end = walk(start + timedelta(minutes=58), 3, origin(world))
    after_end = walk(start + timedelta(minutes=70), 2, origin(world))
    result = services.record_track(worker, patrol, before_end + after_end)
    assert result.accepted == 3 and [r["code"] for r in result.rejected] == ["after_end"] * 2


def test_only_the_patrols_own_worker_uploads(world, worker, workers, role_users, patrol):
    points = walk(patrol.started_at + timedelta(minutes=1), 3, origin(world))
    for other in (
        workers["a1x_colleague"],
        role_users[Role.STREET_LEADER],
        role_users[Role.SYSTEM_ADMIN],
    ):
        with pytest.raises(PermissionDenied):
            services.record_track(other, patrol, points)
    assert stored(patrol) == []


def test_the_track_of_a_patrol_is_capped(world, worker, patrol, monkeypatch):
    monkeypatch.setattr(services, "MAX_POINTS", 5)
    points = walk(patrol.started_at + timedelta(minutes=1), 8, origin(world))
    result = services.record_track(worker, patrol, points)
    assert result.accepted == 5
    assert [(r["index"], r["code"]) for r in result.rejected] == [
        (5, "patrol_full"),
        (6, "patrol_full"),
        (7, "patrol_full"),
    ]


# --- Findings ---------------------------------------------------------------------------------


@pytest.fixture
def category(db):
    from jiedao.cases.models import Category, HandlerType

    main = Category.objects.create(code="01", name="市容环境", handler_type=HandlerType.STREET)
    return Category.objects.create(
        code="0101", name="垃圾清运", parent=main, handler_type=HandlerType.COMMUNITY
    )


def report(worker, world, category, **extra):
    from jiedao.cases.services import submit_case

    lng, lat = inside(world.grid_a1x)
    return submit_case(
        worker,
        channel="patrol",
        category=category,
        description="井盖缺失",
        lng=lng,
        lat=lat,
        **extra,
    ).case


def test_a_finding_joins_the_open_patrol_once(world, worker, category):
    patrol = services.start_patrol(worker, world.grid_a1x, KEY)
    case = report(worker, world, category)
    finding = services.link_finding(worker, case)
    assert (
        finding is not None
        and finding.patrol == patrol
        and finding.territory_code == patrol.territory_code
    )
    assert services.link_finding(worker, case).pk == finding.pk
    assert PatrolFinding.all_objects.count() == 1
    assert len(audit("fieldwork.finding.link")) == 1


def test_no_patrol_no_link(world, worker, workers, category):
    case = report(worker, world, category)
    assert services.link_finding(worker, case) is None
    services.start_patrol(workers["a1x_colleague"], world.grid_a1x, KEY)  # someone else's
    assert services.link_finding(worker, case) is None
    hotline = report(worker, world, category, idempotency_key="")
    hotline.channel = "hotline"
    assert services.link_finding(worker, hotline) is None


@pytest.mark.parametrize(
    ("grid", "joins"),
    [
        ("grid_a1x", True),  # the patrol's grid
        ("grid_a1y", True),  # just over its edge, same community
        ("grid_a2x", False),  # another community of the street
        ("grid_b1x", False),  # another street
    ],
)
def test_a_finding_joins_the_patrol_only_within_its_community(world, worker, category, grid, joins):
    services.start_patrol(worker, world.grid_a1x, KEY)
    lng, lat = inside(getattr(world, grid))
    from jiedao.cases.services import submit_case

    case = submit_case(
        worker, channel="patrol", category=category, description="井盖缺失", lng=lng, lat=lat
    ).case
    assert case.territory_code == getattr(world, grid).code
    assert (services.link_finding(worker, case) is not None) is joins
    assert PatrolFinding.all_objects.count() == (1 if joins else 0)


def test_a_finding_queued_offline_joins_the_patrol_of_its_time(world, worker, category):
    start = timezone.now() - timedelta(hours=3)
    earlier = make_patrol(
        worker, world.grid_a1x, started_at=start, ended_at=start + timedelta(hours=1)
    )
    case = report(worker, world, category)  # arrives now, long after the patrol ended
    finding = services.link_finding(worker, case, at=iso(start + timedelta(minutes=30)))
    assert finding is not None and finding.patrol == earlier


# --- Household visits -------------------------------------------------------------------------


def test_a_household_visit_is_recorded_once(world, worker):
    household = world.persons["a1x"].household
    visit = services.record_household_visit(worker, household, "家中老人身体良好", KEY)
    again = services.record_household_visit(worker, household, "家中老人身体良好", KEY)
    assert again.pk == visit.pk
    with unscoped():
        visits = list(Visit.objects.all())
    assert len(visits) == 1
    assert visits[0].kind == Visit.Kind.ROUTINE and visits[0].visited_by == worker
    assert visits[0].household == household and visits[0].note == "家中老人身体良好"
    assert len(audit("registry.visit.record")) == 1


def test_a_visit_racing_its_resend_is_kept_once(world, worker, monkeypatch):
    household = world.persons["a1x"].household
    first = services.record_household_visit(worker, household, "走访", KEY)
    real = services._sent
    calls = {"n": 0}

    def late(actor, key, kind):
        calls["n"] += 1
        return None if calls["n"] == 1 else real(actor, key, kind)

    monkeypatch.setattr(services, "_sent", late)
    again = services.record_household_visit(worker, household, "走访", KEY)
    assert again.pk == first.pk
    with unscoped():
        assert Visit.objects.count() == 1
    assert len(audit("registry.visit.record")) == 1  # the loser's entry rolled back with it


def test_a_visit_outside_the_grid_or_without_a_note_is_refused(world, worker, role_users):
    with pytest.raises(PermissionDenied):
        services.record_household_visit(worker, world.persons["a1y"].household, "走访", KEY)
    with pytest.raises(PermissionDenied):
        services.record_household_visit(
            role_users[Role.WORKSTATION_STAFF], world.persons["a1x"].household, "走访", KEY
        )
    with pytest.raises(ValidationError):
        services.record_household_visit(worker, world.persons["a1x"].household, "   ", KEY)
    with unscoped():
        assert Visit.objects.count() == 0


# --- Past patrols -----------------------------------------------------------------------------


def test_import_patrol_for_the_demo(world, worker):
    start = timezone.now() - timedelta(days=3)
    points = walk(start, 11, origin(world), step_m=20, every_s=20)
    patrol, result = services.import_patrol(
        worker, world.grid_a1x, points, started_at=start, ended_at=start + timedelta(minutes=5)
    )
    assert (patrol.distance_m, patrol.point_count, result.accepted) == (200, 11, 11)
    assert audit("fieldwork.patrol.import")[0].object_id == str(patrol.pk)
    with pytest.raises(ValidationError):
        services.import_patrol(worker, world.grid_b1x, [], started_at=start, ended_at=start)

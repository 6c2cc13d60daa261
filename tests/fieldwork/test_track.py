"""The track's pure rules: reading a fix, flagging inaccurate fixes and impossible jumps, and
the distance walked (jiedao/fieldwork/track.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from jiedao.cases import duplicates
from jiedao.cases.coords import wgs84_to_gcj02
from jiedao.core import geo
from jiedao.fieldwork import track
from jiedao.fieldwork.track import INACCURATE, JUMP, BadFix, Fix, assess, parse_fix, parse_time

T0 = datetime(2026, 10, 8, 1, 0, tzinfo=UTC)
LNG, LAT = 115.97, 40.45
M_PER_DEG = geo.METRES_PER_DEGREE
EAST = 1 / (M_PER_DEG * math.cos(math.radians(LAT)))  # degrees of longitude per metre


def fix(second: int, east_m: float, accuracy: float | None = 5.0, north_m: float = 0.0) -> Fix:
    return Fix(
        T0 + timedelta(seconds=second), LNG + east_m * EAST, LAT + north_m / M_PER_DEG, accuracy
    )


def straight(n: int, step_m: float = 10.0, every_s: int = 10, start: int = 0) -> list[Fix]:
    return [fix(start + i * every_s, i * step_m) for i in range(n)]


def test_haversine_of_one_degree_of_latitude():
    assert geo.haversine_m(116.0, 39.0, 116.0, 40.0) == pytest.approx(111_195, abs=1)
    assert geo.haversine_m(116.0, 39.0, 116.0, 40.0) == pytest.approx(geo.METRES_PER_DEGREE)


def test_one_haversine_for_tracks_and_duplicates():
    """The track and the duplicate rule measure with the same function (jiedao.core.geo)."""
    assert track.haversine_m is geo.haversine_m
    assert duplicates.haversine_m is geo.haversine_m
    assert not hasattr(track, "EARTH_RADIUS_M")


def test_distance_of_a_known_straight_walk():
    judged = assess(straight(11, step_m=10.0))  # 10 legs of 10 m, 1 m/s
    assert judged.flags == [""] * 11
    assert judged.distance_m == pytest.approx(100.0, abs=0.05)
    assert (judged.used, judged.flagged) == (11, 0)


def test_distance_of_a_square_round():
    side = 50.0
    corners = [(0, 0), (side, 0), (side, side), (0, side), (0, 0)]
    fixes = [fix(i * 60, e, north_m=n) for i, (e, n) in enumerate(corners)]
    assert assess(fixes).distance_m == pytest.approx(4 * side, abs=0.1)


def test_an_inaccurate_fix_is_flagged_and_left_out():
    fixes = straight(5)
    fixes[2] = fix(20, 500.0, accuracy=track.MAX_ACCURACY_M + 1)  # also far away
    judged = assess(fixes)
    assert judged.flags == ["", "", INACCURATE, "", ""]
    assert judged.distance_m == pytest.approx(40.0, abs=0.05)  # 0 → 10 → 30 → 40


def test_accuracy_at_the_threshold_is_used_and_unknown_accuracy_too():
    fixes = [fix(0, 0, track.MAX_ACCURACY_M), fix(10, 10, None), fix(20, 20, 1)]
    assert assess(fixes).flags == ["", "", ""]


def test_a_single_spike_is_an_impossible_jump():
    fixes = straight(7)
    fixes[3] = fix(30, 1000.0)  # 1 km off for one fix: ~100 m/s
    judged = assess(fixes)
    assert judged.flags == ["", "", "", JUMP, "", "", ""]
    assert judged.distance_m == pytest.approx(60.0, abs=0.05)  # 20 → 40 skips the spike


def test_two_fixes_off_together_are_both_jumps():
    fixes = straight(8)
    fixes[3] = fix(30, 2000.0)
    fixes[4] = fix(40, 2005.0)
    judged = assess(fixes)
    assert judged.flags == ["", "", "", JUMP, JUMP, "", "", ""]
    assert judged.distance_m == pytest.approx(70.0, abs=0.05)


def test_a_bad_first_fix_is_a_jump():
    fixes = [fix(0, 3000.0), *straight(4, start=10)]
    judged = assess(fixes)
    assert judged.flags == [JUMP, "", "", "", ""]
    assert judged.distance_m == pytest.approx(30.0, abs=0.05)


def test_a_ride_between_two_walks_is_a_gap_not_distance():
    first = straight(4)  # 30 m walked
    second = [fix(100 + i * 10, 5000.0 + i * 10) for i in range(4)]  # 5 km away 70 s later
    judged = assess(first + second)
    assert judged.flags == [""] * 8  # both stretches are real: nothing flagged
    assert judged.distance_m == pytest.approx(60.0, abs=0.05)


def test_too_few_fixes_to_tell_flags_no_jump():
    judged = assess([fix(0, 0), fix(1, 1000)])
    assert judged.flags == ["", ""]
    assert judged.distance_m == 0  # the impossible leg is not counted


def test_speed_at_the_threshold_is_allowed():
    fixes = [fix(i * 10, i * 10 * track.MAX_SPEED_M_S) for i in range(4)]
    judged = assess(fixes)
    assert judged.flags == [""] * 4
    assert judged.distance_m == pytest.approx(3 * 10 * track.MAX_SPEED_M_S, rel=1e-6)


def test_empty_and_single_tracks():
    assert assess([]).distance_m == 0 and assess([]).flags == []
    assert assess([fix(0, 0)]).flags == [""]


# --- Reading fixes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-08T09:00:00+08:00", datetime(2026, 10, 8, 1, 0, tzinfo=UTC)),
        ("2026-10-08T01:00:00Z", datetime(2026, 10, 8, 1, 0, tzinfo=UTC)),
        ("2026-10-08T01:00:00.123456Z", datetime(2026, 10, 8, 1, 0, 0, 123000, tzinfo=UTC)),
    ],
)
def test_times_with_a_zone_are_read_in_utc_to_the_millisecond(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2026-10-08T09:00:00", "time_zone"),
        ("yesterday", "time"),
        ("", "time"),
        (1760000000000, "time"),
        (None, "time"),
        ("2026-10-08T09:00:00+08:00" + " " * 40, "time"),
        # Valid ISO text whose UTC time falls outside the years 1–9999 (an OverflowError).
        ("0001-01-01T00:00:00+14:00", "time"),
        ("9999-12-31T23:59:59-14:00", "time"),
    ],
)
def test_bad_times_say_why(value, code):
    with pytest.raises(BadFix) as caught:
        parse_time(value)
    assert caught.value.code == code


NOW = T0 + timedelta(hours=2)


def read(raw, *, crs="wgs84", ended_at=None):
    return parse_fix(raw, crs=crs, now=NOW, started_at=T0, ended_at=ended_at)


def raw(**changes):
    return {"t": "2026-10-08T01:30:00Z", "lat": LAT, "lng": LNG, "accuracy": 8, **changes}


def test_a_good_fix_is_read():
    got = read(raw())
    assert got == Fix(datetime(2026, 10, 8, 1, 30, tzinfo=UTC), LNG, LAT, 8.0)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"lat": "40.45"}, "coordinates"),
        ({"lng": True}, "coordinates"),
        ({"lat": float("nan")}, "coordinates"),
        ({"lng": float("inf")}, "coordinates"),
        ({"lat": None}, "coordinates"),
        ({"lng": 2.35, "lat": 48.85}, "outside_china"),  # Paris
        ({"lng": 40.45, "lat": 115.97}, "outside_china"),  # swapped
        ({"accuracy": -1}, "accuracy"),
        ({"accuracy": "5"}, "accuracy"),
        ({"t": "2026-10-08T03:06:00Z"}, "future"),  # 6 min ahead of the server
        ({"t": "2026-10-08T00:54:00Z"}, "before_start"),  # 6 min before the start
    ],
)
def test_bad_fixes_say_why(changes, code):
    with pytest.raises(BadFix) as caught:
        read(raw(**changes))
    assert caught.value.code == code
    assert caught.value.message


def test_not_an_object_is_refused():
    with pytest.raises(BadFix) as caught:
        read([LNG, LAT])
    assert caught.value.code == "not_object"


def test_slack_around_start_and_end():
    assert read(raw(t="2026-10-08T00:56:00Z"))  # 4 min before the start: warming up
    assert read(raw(t="2026-10-08T03:04:00Z"))  # a phone clock 4 min ahead
    ended = T0 + timedelta(minutes=30)
    assert read(raw(t="2026-10-08T01:34:00Z"), ended_at=ended)
    with pytest.raises(BadFix) as caught:
        read(raw(t="2026-10-08T01:36:00Z"), ended_at=ended)
    assert caught.value.code == "after_end"


def test_gcj02_fixes_are_stored_in_wgs84():
    shifted_lng, shifted_lat = wgs84_to_gcj02(LNG, LAT)
    got = read(raw(lng=shifted_lng, lat=shifted_lat), crs="gcj02")
    assert got.lng == pytest.approx(LNG, abs=1e-6) and got.lat == pytest.approx(LAT, abs=1e-6)


def test_the_best_of_same_time_fixes_does_not_depend_on_order():
    a, b, c = Fix(T0, 116.0, 40.0, 9.0), Fix(T0, 116.1, 40.0, 3.0), Fix(T0, 115.9, 40.0, None)
    assert track.best_of([a, b, c]) == track.best_of([c, b, a]) == b
    d = Fix(T0, 115.8, 40.0, 3.0)
    assert track.best_of([b, d]) == track.best_of([d, b]) == d

"""GCJ-02 and BD-09 to WGS-84 against published pairs, and round trips to metre precision."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jiedao.cases import coords

# Reference pairs from the widely used coordtransform implementations, input (116.404, 39.915).
TIANANMEN = (116.404, 39.915)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance on a sphere, good enough at these scales."""
    lat = math.radians((a[1] + b[1]) / 2)
    dx = math.radians(a[0] - b[0]) * math.cos(lat) * 6_371_000
    dy = math.radians(a[1] - b[1]) * 6_371_000
    return math.hypot(dx, dy)


def test_forward_formulas_match_published_values():
    assert coords.wgs84_to_gcj02(*TIANANMEN) == pytest.approx(
        (116.41024449916938, 39.91640428150164), abs=1e-12
    )
    assert coords.gcj02_to_bd09(*TIANANMEN) == pytest.approx(
        (116.41036949371029, 39.92133699351021), abs=1e-12
    )
    assert coords.bd09_to_gcj02_approx(*TIANANMEN) == pytest.approx(
        (116.39762729119315, 39.90865673957631), abs=1e-12
    )


def test_iterative_inverse_is_within_a_centimetre_and_near_the_one_step_value():
    wgs = coords.gcj02_to_wgs84(*TIANANMEN)
    assert metres(coords.wgs84_to_gcj02(*wgs), TIANANMEN) < 0.01
    # The published one-step inverse is a few decimetres to metres off; ours is close to it.
    assert metres(wgs, (116.39775550083061, 39.91359571849836)) < 5


def test_gcj02_of_a_known_wgs84_point_comes_back():
    assert metres(coords.gcj02_to_wgs84(116.41024449916938, 39.91640428150164), TIANANMEN) < 0.01


def test_bd09_inverse():
    bd = coords.gcj02_to_bd09(*coords.wgs84_to_gcj02(*TIANANMEN))
    assert metres(coords.bd09_to_wgs84(*bd), TIANANMEN) < 0.01


@pytest.mark.parametrize("point", [(2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688)])
def test_points_outside_china_are_unchanged_by_gcj02(point):
    assert coords.wgs84_to_gcj02(*point) == point
    assert coords.gcj02_to_wgs84(*point) == point
    assert coords.to_wgs84(*point, crs="gcj02") == point


@pytest.mark.parametrize(
    "lng,lat,crs",
    [(float("nan"), 40.0, "wgs84"), (200.0, 40.0, "gcj02"), (116.0, 95.0, "bd09"), (116, 40, "x")],
)
def test_to_wgs84_refuses_what_is_not_a_coordinate(lng, lat, crs):
    with pytest.raises(ValueError):
        coords.to_wgs84(lng, lat, crs)


mainland = st.tuples(
    st.floats(min_value=73.7, max_value=134.7), st.floats(min_value=18.2, max_value=53.5)
)


@given(mainland)
def test_gcj02_round_trip_to_metre_precision(point):
    back = coords.gcj02_to_wgs84(*coords.wgs84_to_gcj02(*point))
    assert metres(back, point) < 0.01


@given(mainland)
def test_bd09_round_trip_to_metre_precision(point):
    bd = coords.gcj02_to_bd09(*coords.wgs84_to_gcj02(*point))
    assert metres(coords.to_wgs84(*bd, crs="bd09"), point) < 0.01


@given(mainland)
def test_wgs84_is_stored_as_given(point):
    assert coords.to_wgs84(*point) == point

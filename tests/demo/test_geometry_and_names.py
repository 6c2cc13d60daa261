"""Pure parts of the demo generator: plan sizes, boundaries, names and credit codes."""

from __future__ import annotations

import random

import pytest
from shapely.geometry import Point, Polygon
from stdnum.cn import uscc

from jiedao.demo import geometry as geo
from jiedao.demo import places
from jiedao.demo.people import REFERENCE_DATE, HouseholdMaker
from jiedao.demo.world import Plan


def test_plan_sizes_follow_the_scale():
    base = Plan.for_scale(2026, 1)
    assert (base.communities, base.residential_buildings, base.organisations) == (11, 302, 100)
    big = Plan.for_scale(2026, 10)
    assert (big.communities, big.residential_buildings) == (110, 3020)
    small = Plan.for_scale(2026, 0.05)
    assert small.communities == 3 and small.residential_buildings == 15
    with pytest.raises(ValueError):
        Plan.for_scale(1, 0)


@pytest.mark.parametrize("count", [3, 4, 5])
def test_grids_tile_their_community_without_overlap(count):
    rng = random.Random(count)
    for quad in geo.community_quads(11, rng):
        community = Polygon(quad.ring())
        shapes = [Polygon(cell.ring) for cell in geo.grid_cells(quad, count, rng)]
        assert len(shapes) == count
        assert all(shape.is_valid for shape in shapes)
        for i, a in enumerate(shapes):
            for b in shapes[i + 1 :]:
                assert a.intersection(b).area == 0
        assert sum(s.area for s in shapes) == pytest.approx(community.area, rel=1e-4)


def test_points_fall_inside_their_grid():
    rng = random.Random(5)
    quad = geo.community_quads(3, rng)[0]
    for cell in geo.grid_cells(quad, 5, rng):
        for _ in range(50):
            assert Polygon(cell.ring).contains(Point(geo.point_in_cell(quad, cell, rng)))


def test_street_is_one_polygon_of_the_right_size_near_yanqing():
    quads = geo.community_quads(11, random.Random(1))
    boundary = geo.union_polygon(quads)
    assert boundary["type"] == "Polygon" and len(boundary["coordinates"]) == 1
    km2 = Polygon(boundary["coordinates"][0]).area * geo.KM_PER_DEG_LAT * geo.km_per_deg_lng()
    assert km2 == pytest.approx(geo.STREET_AREA_KM2, rel=0.1)
    lng, lat = geo.centre(boundary["coordinates"][0])
    assert abs(lat - 40.465) < 0.02 and abs(lng - 115.975) < 0.02


def test_credit_codes_are_valid():
    rng = random.Random(3)
    for authority in ("11", "12", "51", "52", "91"):
        code = places.credit_code(authority, rng)
        assert len(code) == 18 and uscc.is_valid(code) and code.startswith(authority + "110119")


def test_community_and_road_names_are_unique():
    names = [places.community_name(i) for i in range(999)]
    assert len(set(names)) == 999 and names[0] == "香水园社区"
    roads = [places.road_name(i) for i in range(len(places.ALL_ROADS))]
    assert len(set(roads)) == len(roads) > 140


def test_households_have_plausible_members():
    maker = HouseholdMaker(random.Random(11))
    for _ in range(500):
        size = maker.size()
        members = maker.members(size)
        assert len(members) == size
        for person in members:
            assert 2 <= len(person.name) <= 3 and person.sex in "MF"
            assert 0 <= (REFERENCE_DATE - person.birth_date).days < 100 * 366

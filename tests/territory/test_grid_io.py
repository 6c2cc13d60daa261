"""Grid boundaries in: validation, winding, coordinate systems, areas (pure functions)."""

from __future__ import annotations

import json
import math

import pytest
from django.core.exceptions import ValidationError
from shapely.geometry import LinearRing, Polygon, shape

from jiedao.cases.coords import bd09_to_wgs84, gcj02_to_bd09, wgs84_to_gcj02
from jiedao.territory import grid_io
from jiedao.territory.grid_io import LayerGrid
from tests.territory.grid_io_support import clockwise, collection, feature, rect

SQUARE = rect(115.96, 115.965)


def _refusal(geometry, crs="wgs84") -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        grid_io.clean_geometry(geometry, crs)
    return caught.value


def test_a_valid_square_is_kept_as_it_is():
    result = grid_io.clean_geometry(SQUARE)
    assert result.geojson == SQUARE
    assert result.warnings == []


def test_clockwise_exterior_is_normalised_not_refused():
    result = grid_io.clean_geometry(clockwise(SQUARE))
    ring = result.geojson["coordinates"][0]
    assert LinearRing(ring).is_ccw
    assert shape(result.geojson).equals(shape(SQUARE))
    assert result.warnings == []


def test_holes_end_up_clockwise():
    outer = SQUARE["coordinates"][0]
    hole = [[115.961, 40.461], [115.962, 40.461], [115.962, 40.462], [115.961, 40.462]]
    hole.append(hole[0])  # counter-clockwise: the wrong way for a hole
    result = grid_io.clean_geometry({"type": "Polygon", "coordinates": [outer, hole]})
    exterior, interior = result.geojson["coordinates"]
    assert LinearRing(exterior).is_ccw and not LinearRing(interior).is_ccw


def test_an_unclosed_ring_is_closed_with_a_warning():
    open_ring = SQUARE["coordinates"][0][:-1]
    result = grid_io.clean_geometry({"type": "Polygon", "coordinates": [open_ring]})
    assert result.geojson == SQUARE
    assert result.warnings == [
        "1 ring was not closed: it was closed by repeating its first position."
    ]


@pytest.mark.parametrize(
    ("geometry", "code", "words"),
    [
        ("not an object", "geometry_type", "not a GeoJSON object"),
        ({"type": "Point", "coordinates": [115.96, 40.46]}, "geometry_type", '"Point"'),
        ({"type": "Polygon"}, "no_coordinates", "no coordinates"),
        ({"type": "Polygon", "coordinates": []}, "no_coordinates", "no coordinates"),
        ({"type": "Polygon", "coordinates": [[]]}, "too_few_points", "has 0 positions"),
        (
            {"type": "Polygon", "coordinates": [[[115.96, 40.46], [115.97, 40.46]]]},
            "too_few_points",
            "at least 3 different corners",
        ),
        (
            {"type": "Polygon", "coordinates": [[[115.96, 40.46], ["x", 40.46], [115.97, 40.47]]]},
            "position",
            '["x", 40.46]',
        ),
        (
            {"type": "Polygon", "coordinates": [[[115.96, 40.46], [True, 1], [115.97, 40.47]]]},
            "position",
            "[longitude, latitude] numbers",
        ),
        ({"type": "MultiPolygon", "coordinates": [[]]}, "no_ring", "at least one ring"),
    ],
)
def test_malformed_geometry_is_refused_with_a_reason(geometry, code, words):
    error = _refusal(geometry)
    assert error.code == code
    assert words in error.messages[0]


def test_a_self_intersecting_boundary_is_explained():
    bow_tie = [
        [115.96, 40.46],
        [115.965, 40.47],
        [115.965, 40.46],
        [115.96, 40.47],
        [115.96, 40.46],
    ]
    error = _refusal({"type": "Polygon", "coordinates": [bow_tie]})
    assert error.code == "invalid_polygon"
    assert "cross itself" in error.messages[0]
    assert "Self-intersection[115.9625 40.465]" in error.messages[0]


def test_swapped_latitude_and_longitude_are_named():
    swapped = [[[lat, lng] for lng, lat in SQUARE["coordinates"][0]]]
    error = _refusal({"type": "Polygon", "coordinates": swapped})
    assert error.code == "swapped"
    assert "latitude and longitude look swapped" in error.messages[0].lower()


def test_a_boundary_outside_china_is_not_taken_for_a_swap():
    paris = rect(2.35, 2.36, 48.85, 48.86)
    error = _refusal(paris)
    assert error.code == "outside_china"
    assert "2.35, 48.85 lies outside China" in error.messages[0]


def test_projected_coordinates_are_recognised():
    metres = rect(440000.0, 440500.0, 4478000.0, 4478500.0)
    assert _refusal(metres).code == "not_degrees"


def test_one_stray_position_outside_china_is_not_a_swap():
    ring = [*SQUARE["coordinates"][0][:-1], [40.46, 115.96], SQUARE["coordinates"][0][0]]
    assert _refusal({"type": "Polygon", "coordinates": [ring]}).code == "not_degrees"


def test_gcj02_input_is_converted_to_wgs84():
    wgs_ring = SQUARE["coordinates"][0]
    gcj_ring = [list(wgs84_to_gcj02(lng, lat)) for lng, lat in wgs_ring]
    # GCJ-02 is some hundreds of metres off in Yanqing: the input really differs.
    assert abs(gcj_ring[0][0] - wgs_ring[0][0]) > 0.003
    result = grid_io.clean_geometry({"type": "Polygon", "coordinates": [gcj_ring]}, "gcj02")
    for (lng, lat), (want_lng, want_lat) in zip(
        result.geojson["coordinates"][0], wgs_ring, strict=True
    ):
        assert lng == pytest.approx(want_lng, abs=1e-7)
        assert lat == pytest.approx(want_lat, abs=1e-7)


def test_bd09_input_is_converted_to_wgs84():
    wgs_ring = SQUARE["coordinates"][0]
    bd_ring = [list(gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))) for lng, lat in wgs_ring]
    result = grid_io.clean_geometry({"type": "Polygon", "coordinates": [bd_ring]}, "bd09")
    first = result.geojson["coordinates"][0][0]
    assert first == pytest.approx(wgs_ring[0], abs=1e-7)
    assert bd09_to_wgs84(*bd_ring[0]) == pytest.approx(tuple(first), abs=1e-9)


def test_multipolygons_are_accepted():
    parts = [SQUARE["coordinates"], rect(115.97, 115.975)["coordinates"]]
    result = grid_io.clean_geometry({"type": "MultiPolygon", "coordinates": parts})
    assert result.geojson["type"] == "MultiPolygon"
    assert len(result.geojson["coordinates"]) == 2


def test_wkt_round_trip_is_exact():
    odd = rect(115.96123456789012, 115.9654321098765, 40.46000000000001, 40.47)
    text = grid_io.to_wkt(odd)
    assert text.startswith("POLYGON ((115.96123456789012 40.46000000000001, ")
    assert grid_io.clean_wkt(text).geojson == odd


def test_wkt_problems():
    unclosed = "POLYGON ((115.96 40.46, 115.965 40.46, 115.965 40.47, 115.96 40.47))"
    result = grid_io.clean_wkt(unclosed)
    assert result.geojson == SQUARE
    assert "closed by repeating its first position" in result.warnings[0]
    with pytest.raises(ValidationError, match="cannot be read"):
        grid_io.clean_wkt("POLYGON ((115.96 40.46, 115.965")
    with pytest.raises(ValidationError, match="not Point"):
        grid_io.clean_wkt("POINT (115.96 40.46)")
    with pytest.raises(ValidationError, match="look swapped"):
        grid_io.clean_wkt("POLYGON ((40.46 115.96, 40.46 115.965, 40.47 115.965, 40.46 115.96))")


# --- Areas ----------------------------------------------------------------------------------


def _spherical_rect_m2(lng0, lng1, lat0, lat1) -> float:
    """Exact area of a latitude-longitude rectangle on the sphere."""
    r = grid_io.EARTH_RADIUS_M
    return (
        r
        * r
        * math.radians(lng1 - lng0)
        * abs(math.sin(math.radians(lat1)) - math.sin(math.radians(lat0)))
    )


def test_local_area_is_within_a_tenth_of_a_percent_at_street_scale():
    # About the demo street's size: 7.45 km² (s000).
    lng0, lng1, lat0, lat1 = 115.96, 115.99, 40.45, 40.48
    square = shape(rect(lng0, lng1, lat0, lat1))
    area = grid_io.area_m2(square, (115.975, 40.465))
    exact = _spherical_rect_m2(lng0, lng1, lat0, lat1)
    assert 8.4e6 < exact < 8.5e6
    assert area == pytest.approx(exact, rel=1e-3)


def _grid(key, geometry, community="110119001001", number=None) -> LayerGrid:
    return LayerGrid(key, key, community, shape(geometry), number)


ORIGIN = (115.97, 40.465)


def test_overlaps_above_the_tolerance_are_found_and_measured():
    # 10 m east-west: 0.000118° of longitude at 40.46° N.
    d = 10 / (grid_io.M_PER_DEG * math.cos(math.radians(40.465)))
    a = _grid("a", rect(115.96, 115.965))
    b = _grid("b", rect(115.965 - d, 115.97))
    edge = _grid("c", rect(115.97, 115.975))  # shares an edge with b: no overlap
    found = grid_io.find_overlaps([a, b, edge], 1.0, ORIGIN)
    assert [(o.a.key, o.b.key) for o in found] == [("a", "b")]
    # 10 m × 1,112 m (0.01° of latitude).
    assert found[0].area_m2 == pytest.approx(10 * 0.01 * grid_io.M_PER_DEG, rel=1e-3)
    assert grid_io.find_overlaps([a, b], found[0].area_m2 + 1, ORIGIN) == []


def test_gaps_are_measured():
    community = shape(rect(115.96, 115.97))
    parts = [shape(rect(115.96, 115.965))]
    area, pieces = grid_io.find_gaps(community, parts, 1.0, ORIGIN)
    assert len(pieces) == 1
    half = grid_io.area_m2(shape(rect(115.965, 115.97)), ORIGIN)
    assert area == pytest.approx(half)
    assert grid_io.find_gaps(community, [community], 1.0, ORIGIN) == (0, ())


def test_check_layer_names_grids_beyond_the_street():
    street = grid_io.Area("110119001000", "香水园街道", shape(rect(115.96, 115.98)))
    community = grid_io.Area("110119001001", "香水园社区", shape(rect(115.96, 115.98)))
    inside = _grid("110119001001001", rect(115.96, 115.97))
    beyond = _grid("110119001001002", rect(115.97, 115.985))
    check = grid_io.check_layer(street, [community], [inside, beyond], tolerance=1.0)
    assert [o.grid.key for o in check.outside_street] == ["110119001001002"]
    assert check.outside_street[0].area_m2 == pytest.approx(
        grid_io.area_m2(shape(rect(115.98, 115.985)), (115.97, 40.465)), rel=1e-3
    )
    assert not check.ok


# --- Files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a GeoJSON FeatureCollection"),
        ('{"type": "Polygon", "coordinates": []}', "must be a GeoJSON FeatureCollection"),
        ('{"type": "FeatureCollection"}', "no list of features"),
        ("[" * 100000, "not valid JSON"),
    ],
)
def test_unreadable_geojson_files(text, words):
    rows, problems = grid_io.parse_geojson(text)
    assert rows == []
    assert len(problems) == 1 and problems[0].number is None
    assert words in problems[0].message


def test_feature_problems_carry_their_number_and_code():
    text = json.dumps(
        collection(
            feature("110119001001001", SQUARE, name="一"),
            {"type": "Feature", "properties": {"code": "110119001001002"}},
            feature("110119001001003", {"type": "Polygon"}),
            "junk",
            feature("110119001001004", SQUARE, purposes=["party", "space"]),
        )
    )
    rows, problems = grid_io.parse_geojson(text)
    assert [(p.number, p.code) for p in problems] == [
        (2, "110119001001002"),
        (3, "110119001001003"),
        (4, ""),
        (5, "110119001001004"),
    ]
    assert "no geometry member" in problems[0].message
    assert "Unknown grid purpose space" in problems[3].message
    assert rows[0].name == "一" and rows[0].geometry is not None


def test_purposes_accept_values_and_chinese_names_in_a_fixed_order():
    assert grid_io.parse_purposes("应急;党建, city") == ["party", "city", "emergency"]
    assert grid_io.parse_purposes(["Governance", "governance"]) == ["governance"]
    assert grid_io.parse_purposes("") == []
    with pytest.raises(ValidationError, match="use party, governance, city, emergency"):
        grid_io.parse_purposes("sports")
    with pytest.raises(ValidationError, match="list or text"):
        grid_io.parse_purposes({"party": True})


def test_csv_rows_are_numbered_as_in_a_spreadsheet():
    wkt = grid_io.to_wkt(SQUARE)
    text = (
        "\ufeffcode,name,community,purposes,workers,wkt\r\n"
        f'110119001001001,一,110119001001,党建;城管,2,"{wkt}"\r\n'
        "\r\n"
        "110119001001002,二,110119001001,,0,POLYGON ((1 2\r\n"
    )
    rows, problems = grid_io.parse_csv(grid_io.decode_upload(text.encode("utf-8")))
    assert [r.number for r in rows] == [2, 4]
    assert rows[0].purposes == ["party", "city"]
    assert rows[0].geometry is not None and rows[0].geometry.geojson == SQUARE
    assert rows[1].purposes == [] and rows[1].geometry is None
    assert [(p.number, p.code) for p in problems] == [(4, "110119001001002")]


def test_csv_needs_its_columns():
    rows, problems = grid_io.parse_csv("name,geometry\r\n一,x\r\n")
    assert rows == [] and "missing: code, wkt" in problems[0].message


def test_csv_in_gb18030_from_excel_is_read():
    text = "code,name,wkt\r\n110119001001001,香水园第一网格,\r\n"
    rows, problems = grid_io.parse_csv(grid_io.decode_upload(text.encode("gb18030")))
    assert problems == [] and rows[0].name == "香水园第一网格"


def test_names_with_control_characters_are_refused():
    text = json.dumps(collection(feature("110119001001001", SQUARE, name="a\u0000b")))
    _, problems = grid_io.parse_geojson(text)
    assert "control characters" in problems[0].message


def test_shapely_agrees_the_cleaned_square_is_a_polygon():
    assert isinstance(grid_io.clean_geometry(SQUARE).shape, Polygon)

"""Properties of grid import/export: a round trip keeps every boundary, junk never crashes and
never saves, winding normalisation is idempotent."""

from __future__ import annotations

import json
import math

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LinearRing, shape

from jiedao.accounts.roles import Role
from jiedao.core.scopes import unscoped
from jiedao.territory import grid_io
from jiedao.territory.models import Community, Grid
from tests.territory.grid_io_support import layer

__all__ = ["layer"]
# Shapely work under a loaded CI machine can pass Hypothesis's 200 ms default deadline.
NO_DEADLINE = settings(deadline=None)

# Somewhere in Yanqing; a polygon is a star-shaped ring around a centre (always simple).
lngs = st.floats(min_value=115.9, max_value=116.1, allow_nan=False)
lats = st.floats(min_value=40.4, max_value=40.5, allow_nan=False)


@st.composite
def rings(draw, clockwise=None) -> list[list[float]]:
    """A simple polygon ring: corners at increasing angles around a centre, closed."""
    lng0, lat0 = draw(lngs), draw(lats)
    count = draw(st.integers(min_value=3, max_value=12))
    angles = sorted(
        draw(
            st.lists(
                st.floats(min_value=0, max_value=2 * math.pi, exclude_max=True),
                min_size=count,
                max_size=count,
                unique=True,
            )
        )
    )
    if (
        min(b - a for a, b in zip(angles, [*angles[1:], angles[0] + 2 * math.pi], strict=True))
        < 0.05
    ):
        angles = [i * 2 * math.pi / count for i in range(count)]
    radii = draw(st.lists(st.floats(0.0005, 0.01), min_size=count, max_size=count))
    ring = [
        [lng0 + r * math.cos(a), lat0 + r * math.sin(a)] for a, r in zip(angles, radii, strict=True)
    ]
    if clockwise if clockwise is not None else draw(st.booleans()):
        ring.reverse()
    return [*ring, ring[0]]


@st.composite
def polygons(draw) -> dict:
    ring = draw(rings())
    if draw(st.booleans()):
        return {"type": "Polygon", "coordinates": [ring]}
    shifted = [[x + 0.05, y] for x, y in draw(rings())]
    return {"type": "MultiPolygon", "coordinates": [[ring], [shifted]]}


def _valid(geometry: dict) -> bool:
    return shape(geometry).is_valid


def _same_within(a: dict, b: dict, tolerance: float = 1e-9) -> bool:
    """Same type and the same positions in the same order, each within ``tolerance`` degrees."""
    if a["type"] != b["type"]:
        return False

    def flat(geometry: dict) -> list[float]:
        out: list[float] = []

        def walk(value):
            if isinstance(value[0], float | int):
                out.extend(value[:2])
            else:
                for item in value:
                    walk(item)

        walk(geometry["coordinates"])
        return out

    fa, fb = flat(a), flat(b)
    return len(fa) == len(fb) and all(abs(x - y) <= tolerance for x, y in zip(fa, fb, strict=True))


def _unsaved_grid(geometry: dict, code: str = "110119001001001") -> Grid:
    return Grid(
        code=code,
        name="网格",
        boundary=geometry,
        purposes=["party"],
        community=Community(code=code[:12], name="社区"),
    )


@NO_DEADLINE
@given(polygons())
def test_geojson_round_trip_keeps_the_geometry(geometry):
    if not _valid(geometry):
        return
    stored = grid_io.clean_geometry(geometry).geojson  # what an import stores
    document = json.dumps(grid_io.geojson_document([_unsaved_grid(stored)]))
    rows, problems = grid_io.parse_geojson(document)
    assert not [p for p in problems if not p.warning]
    assert rows[0].geometry is not None
    assert _same_within(rows[0].geometry.geojson, stored)
    assert rows[0].purposes == ["party"] and rows[0].code == "110119001001001"


@NO_DEADLINE
@given(polygons())
def test_csv_round_trip_keeps_the_geometry(geometry):
    if not _valid(geometry):
        return
    stored = grid_io.clean_geometry(geometry).geojson
    document = grid_io.csv_document([_unsaved_grid(stored)])
    rows, problems = grid_io.parse_csv(grid_io.decode_upload(document))
    assert problems == []
    assert rows[0].geometry is not None
    assert _same_within(rows[0].geometry.geojson, stored)


@NO_DEADLINE
@given(polygons())
def test_winding_normalisation_is_idempotent_and_rfc7946(geometry):
    if not _valid(geometry):
        return
    once = grid_io.normalise_winding(shape(geometry))
    twice = grid_io.normalise_winding(once)
    assert grid_io.to_geojson(once) == grid_io.to_geojson(twice)
    assert once.equals(shape(geometry))
    parts = once.geoms if hasattr(once, "geoms") else [once]
    for part in parts:
        assert LinearRing(part.exterior.coords).is_ccw
        assert all(not LinearRing(hole.coords).is_ccw for hole in part.interiors)


@NO_DEADLINE
@given(rings(clockwise=True))
def test_a_clockwise_ring_comes_out_counter_clockwise(ring):
    result = grid_io.clean_geometry({"type": "Polygon", "coordinates": [ring]})
    assert LinearRing(result.geojson["coordinates"][0]).is_ccw
    assert result.warnings == []


# --- Junk -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)
geometry_junk = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Polygon", "MultiPolygon", "Point", "polygon"]),
        "coordinates": json_values,
    }
)
feature_junk = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Feature", "feature"]),
        "geometry": geometry_junk | json_values,
        "properties": st.dictionaries(
            st.sampled_from(["code", "name", "community", "purposes"]), json_values
        )
        | json_values,
    }
)
geojson_junk = st.builds(
    lambda features: json.dumps({"type": "FeatureCollection", "features": features}),
    st.lists(feature_junk, max_size=4),
) | json_values.map(lambda v: json.dumps(v))


@NO_DEADLINE
@given(json_values | geometry_junk)
def test_clean_geometry_only_ever_refuses_with_a_validation_error(value):
    try:
        result = grid_io.clean_geometry(value)
    except ValidationError as exc:
        assert exc.messages and all(exc.messages)
    else:
        assert result.shape.is_valid


@NO_DEADLINE
@given(st.text(max_size=300))
def test_wkt_junk_is_refused_cleanly(text):
    try:
        grid_io.clean_wkt(text)
    except ValidationError as exc:
        assert exc.messages


def _state() -> tuple:
    with unscoped():
        grids = tuple(Grid.all_objects.order_by("code").values_list("code", "name", "boundary"))
        from jiedao.audit.models import AuditEntry

        audit = AuditEntry.objects.count()
    return grids, audit


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    content=geojson_junk
    | st.text(max_size=200)
    | st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    fmt=st.sampled_from(["geojson", "csv"]),
    crs=st.sampled_from(["wgs84", "gcj02", "bd09", "utm"]),
)
def test_junk_files_never_crash_and_never_save(layer, role_users, content, fmt, crs):
    before = _state()
    report = grid_io.import_grids(
        role_users[Role.STREET_STAFF], layer.street_a, content, fmt, crs, confirm=True
    )
    assert not report.applied
    assert report.errors
    assert _state() == before


@st.composite
def near_valid_documents(draw) -> str:
    """A real-looking file with one thing broken (or not): swapped, truncated, NaN, no code."""
    geometry = draw(polygons())
    ring = (
        geometry["coordinates"][0]
        if geometry["type"] == "Polygon"
        else geometry["coordinates"][0][0]
    )
    damage = draw(st.sampled_from(["none", "swap", "truncate", "nan", "open", "huge"]))
    if damage == "swap":
        ring[:] = [[y, x] for x, y in ring]
    elif damage == "truncate":
        del ring[draw(st.integers(1, 3)) :]
    elif damage == "nan":
        ring[0] = [float("nan"), ring[0][1]]
    elif damage == "open":
        ring.pop()
    elif damage == "huge":
        ring[1] = [float("inf") if draw(st.booleans()) else 1e308, ring[1][1]]
    code = draw(st.sampled_from(["110119001001001", "110119002001001", "", "abc", 110119001001002]))
    props = {"code": code, "name": draw(st.text(max_size=5)), "community": "110119001001"}
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": geometry, "properties": props}],
        }
    )


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=near_valid_documents(), crs=st.sampled_from(["wgs84", "gcj02", "bd09"]))
def test_near_valid_files_are_applied_whole_or_not_at_all(layer, role_users, content, crs):
    before = _state()
    report = grid_io.import_grids(
        role_users[Role.STREET_STAFF], layer.street_a, content, "geojson", crs, confirm=True
    )
    if report.applied:
        assert not report.errors
    else:
        assert report.errors and _state() == before

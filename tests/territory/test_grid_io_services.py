"""Grid import and export against the database: create/update by code, the street's layer checked
as a whole, all or nothing, audited; purposes and grid workers."""

from __future__ import annotations

import csv
import datetime
import io
import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.cases.coords import wgs84_to_gcj02
from jiedao.core.scopes import active_scope, unscoped
from jiedao.territory import grid_io
from jiedao.territory.models import Grid, GridWorker
from tests import factories as f
from tests.territory.grid_io_support import BOUNDARIES, collection, feature, layer, rect

__all__ = ["layer"]  # the fixture, used by name

A1X, A1Y, A2X, B1X = "110119001001001", "110119001001002", "110119001002001", "110119002001001"


def _grids() -> dict[str, tuple]:
    with unscoped():
        return {g.code: (g.name, g.boundary, g.purposes) for g in Grid.all_objects.all()}


def _audit(action: str) -> list[AuditEntry]:
    """Entries by users (the fixture's boundaries are saved by the system)."""
    with unscoped():
        rows = AuditEntry.objects.filter(action=action, actor__isnull=False)
        return list(rows.order_by("seq"))


def _after(entry: AuditEntry) -> dict[str, Any]:
    assert entry.after is not None
    return entry.after


def _geojson(*features) -> str:
    return json.dumps(collection(*features))


def _import(actor, street, text, *, fmt="geojson", crs="wgs84", confirm=True):
    return grid_io.import_grids(actor, street, text, fmt, crs, confirm=confirm)


def _messages(report, *, warnings=False) -> list[str]:
    return [p.message for p in (report.warnings if warnings else report.errors)]


@pytest.fixture
def street_staff(role_users):
    return role_users[Role.STREET_STAFF]


# --- Export ---------------------------------------------------------------------------------


def test_export_geojson_of_a_street(layer, street_staff):
    GridWorker.all_objects.create(
        grid=layer.grid_a1x, user=street_staff, kind=GridWorker.Kind.FULL_TIME
    )
    ended: Any = f.UserFactory()
    GridWorker.all_objects.create(
        grid=layer.grid_a1x,
        user=ended,
        kind=GridWorker.Kind.PART_TIME,
        since=datetime.date(2025, 1, 1),
        until=datetime.date(2025, 6, 30),
    )
    Grid.all_objects.filter(pk=layer.grid_a1x.pk).update(purposes=["party", "city"])
    content, count = grid_io.export_document(street_staff, layer.street_a, "geojson")
    data = json.loads(content)
    assert count == 3 and data["type"] == "FeatureCollection"
    first = data["features"][0]
    assert first["properties"] == {
        "code": A1X,
        "name": "香水园第一网格",
        "community": "110119001001",
        "purposes": ["party", "city"],
        "workers": 1,  # the ended assignment does not count
    }
    assert first["geometry"] == BOUNDARIES["grid_a1x"]
    assert [x["properties"]["code"] for x in data["features"]] == [A1X, A1Y, A2X]
    entry = _audit("export.grids")[0]
    assert entry.kind == AuditEntry.Kind.SENSITIVE_READ and entry.territory_code == "110119001000"


def test_export_csv_has_a_bom_and_a_wkt_column(layer, street_staff):
    Grid.all_objects.filter(pk=layer.grid_a1y.pk).update(name="=HYPERLINK(1)")
    content, _ = grid_io.export_document(street_staff, layer.community_a1, "csv")
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["code", "name", "community", "purposes", "workers", "wkt"]
    assert [r[0] for r in rows[1:]] == [A1X, A1Y]
    assert rows[1][5] == grid_io.to_wkt(BOUNDARIES["grid_a1x"])
    assert rows[2][1] == "'=HYPERLINK(1)"  # never a formula in Excel


def test_export_shows_only_what_the_actor_sees(layer, role_users):
    content, count = grid_io.export_document(
        role_users[Role.GRID_WORKER], layer.street_a, "geojson"
    )
    assert count == 1 and json.loads(content)["features"][0]["properties"]["code"] == A1X


def test_retired_grids_are_not_exported(layer, street_staff):
    Grid.all_objects.filter(pk=layer.grid_a1y.pk).update(retired_at=datetime.date(2026, 1, 1))
    _, count = grid_io.export_document(street_staff, layer.street_a, "geojson")
    assert count == 2


# --- Round trip and updates -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["geojson", "csv"])
def test_export_then_import_changes_nothing(layer, street_staff, fmt):
    before = _grids()
    content, _ = grid_io.export_document(street_staff, layer.street_a, fmt)
    report = _import(street_staff, layer.street_a, grid_io.decode_upload(content), fmt=fmt)
    assert report.applied and report.problems == []
    assert report.counts == {"create": 0, "update": 0, "unchanged": 3}
    assert _grids() == before
    assert _audit("territory.grid.update") == []
    assert "0 created, 0 updated, 3 unchanged" in _audit("territory.grid.import")[0].note


def test_import_updates_name_purposes_and_boundary_and_audits(layer, street_staff):
    # Move the A1x/A1y border east by 0.001°: both grids are redrawn in one file.
    text = _geojson(
        feature(A1X, rect(115.96, 115.966), name="香水园一网格", purposes=["party", "emergency"]),
        feature(A1Y, rect(115.966, 115.97)),
    )
    dry = _import(street_staff, layer.street_a, text, confirm=False)
    assert dry.ok and not dry.applied and dry.counts["update"] == 2
    assert _grids()[A1X][0] == "香水园第一网格"  # the dry run wrote nothing

    report = _import(street_staff, layer.street_a, text)
    assert report.applied, report.problems
    with unscoped():
        a1x, a1y = Grid.all_objects.get(code=A1X), Grid.all_objects.get(code=A1Y)
    assert (a1x.name, a1x.purposes) == ("香水园一网格", ["party", "emergency"])
    assert a1x.boundary == rect(115.96, 115.966) and a1x.max_lng == pytest.approx(115.966)
    assert a1y.name == "香水园第二网格"  # no name in the file: kept
    updates = _audit("territory.grid.update")
    assert {e.object_repr for e in updates} == {"香水园一网格", "香水园第二网格"}
    assert updates[0].actor == street_staff
    assert _audit("territory.grid.import")[0].territory_code == "110119001000"


def test_import_creates_grids_by_code_or_numbers_them(layer, street_staff):
    # A2 is split: A2x shrinks, a new grid 002 with a code, and 003 numbered on import.
    text = _geojson(
        feature(A2X, rect(115.97, 115.975)),
        feature("110119001002002", rect(115.975, 115.978), name="新兴西第二网格"),
        {
            "type": "Feature",
            "geometry": rect(115.978, 115.98),
            "properties": {"community": "110119001002", "name": "新兴西第三网格"},
        },
    )
    report = _import(street_staff, layer.street_a, text)
    assert report.applied, report.problems
    assert report.counts == {"create": 2, "update": 1, "unchanged": 0}
    with unscoped():
        created = list(Grid.all_objects.filter(community=layer.community_a2).order_by("code"))
    assert [(g.code, g.name) for g in created] == [
        (A2X, "新兴西第一网格"),
        ("110119001002002", "新兴西第二网格"),
        ("110119001002003", "新兴西第三网格"),
    ]
    assert len(_audit("territory.grid.create")) == 2


def test_gcj02_file_is_stored_in_wgs84(layer, street_staff):
    def gcj(wgs: dict) -> dict:
        ring = [list(wgs84_to_gcj02(x, y)) for x, y in wgs["coordinates"][0]]
        return {"type": "Polygon", "coordinates": [ring]}

    wgs = rect(115.96, 115.966)
    text = _geojson(feature(A1X, gcj(wgs)), feature(A1Y, gcj(rect(115.966, 115.97))))
    report = _import(street_staff, layer.street_a, text, crs="gcj02")
    assert report.applied, report.problems
    with unscoped():
        boundary = Grid.all_objects.get(code=A1X).boundary
    assert boundary is not None
    stored = boundary["coordinates"][0]
    for got, want in zip(stored, wgs["coordinates"][0], strict=True):
        assert got == pytest.approx(want, abs=1e-7)


# --- Refusals: nothing saved ----------------------------------------------------------------


def _refused(report, before) -> None:
    assert not report.applied and report.errors
    assert _grids() == before
    assert _audit("territory.grid.import") == []


def test_a_grid_crossing_the_street_boundary_is_refused(layer, street_staff):
    before = _grids()
    text = _geojson(feature(A2X, rect(115.97, 115.981)))
    report = _import(street_staff, layer.street_a, text)
    _refused(report, before)
    message = _messages(report)[0]
    assert message.startswith("新兴西第一网格 (110119001002001) extends ")
    assert "beyond the boundary of 香水园街道" in message
    # 0.001° × 0.01° at 40.465° N: about 94,000 m².
    assert "94," in message


def test_an_overlap_with_another_grid_names_both(layer, street_staff):
    before = _grids()
    text = _geojson(feature(A1X, rect(115.96, 115.966)))  # into A1y by 0.001°
    report = _import(street_staff, layer.street_a, text)
    _refused(report, before)
    assert report.errors[0].number == 1 and report.errors[0].code == A1X
    assert _messages(report)[0].startswith(
        "香水园第一网格 (110119001001001) and 香水园第二网格 (110119001001002) overlap by "
    )


def test_an_overlap_below_the_tolerance_is_accepted(layer, street_staff, settings):
    settings.JIEDAO_GRID_TOLERANCE_M2 = 100_000.0
    text = _geojson(feature(A1X, rect(115.96, 115.966)))
    assert _import(street_staff, layer.street_a, text).applied


def test_an_old_overlap_is_a_warning_and_does_not_block_other_changes(layer, street_staff):
    Grid.all_objects.filter(pk=layer.grid_a1y.pk).update(boundary=rect(115.964, 115.97))
    report = _import(street_staff, layer.street_a, _geojson(feature(A2X, None, name="新名")))
    assert report.applied
    warning = _messages(report, warnings=True)[0]
    assert (
        "香水园第一网格 (110119001001001) and 香水园第二网格 (110119001001002) overlap" in warning
    )


def test_gaps_are_reported_as_warnings_with_their_area(layer, street_staff):
    text = _geojson(feature(A1Y, rect(115.965, 115.969)))  # leaves 0.001° of A1 uncovered
    report = _import(street_staff, layer.street_a, text)
    assert report.applied
    gap = next(m for m in _messages(report, warnings=True) if "covered by no grid" in m)
    assert gap.startswith("94,") and "of 香水园社区 is covered by no grid (1 piece)." in gap


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (feature(B1X, rect(115.99, 116.0)), "Community 110119002001 is not in 香水园街道"),
        (feature("11011900100100", rect(115.96, 115.965)), "A grid code is its community's"),
        (feature("110119001001١٢٣", rect(115.96, 115.965)), "A grid code is its community's"),
        (
            feature(A1X, rect(115.96, 115.965), community="110119001002"),
            "does not belong to community 110119001002",
        ),
        (feature("110119001001009", rect(115.96, 115.965)), "A new grid needs a name."),
        (feature("110119001001009", None, name="新"), "A new grid needs a boundary."),
        (feature("", rect(115.96, 115.965), name="新"), "Give the grid's code"),
        (feature(A1X, rect(115.96, 115.965), name="长" * 121), "longer than 120"),
    ],
)
def test_rows_that_cannot_be_placed_are_refused(layer, street_staff, row, words):
    before = _grids()
    report = _import(street_staff, layer.street_a, _geojson(row))
    _refused(report, before)
    assert any(words in m for m in _messages(report)), _messages(report)


def test_a_retired_code_is_never_reused(layer, street_staff):
    Grid.all_objects.filter(pk=layer.grid_a1y.pk).update(retired_at=datetime.date(2026, 1, 1))
    before = _grids()
    report = _import(street_staff, layer.street_a, _geojson(feature(A1Y, None, name="复活")))
    _refused(report, before)
    assert "retired; codes are never reused" in _messages(report)[0]


def test_a_code_twice_is_refused(layer, street_staff):
    text = _geojson(feature(A1X, None, name="一"), feature(A1X, None, name="二"))
    report = _import(street_staff, layer.street_a, text)
    assert "appears twice (first at 1)" in _messages(report)[0]
    assert report.errors[0].number == 2


def test_all_or_nothing(layer, street_staff):
    """Two good features and one swapped: nothing at all is written."""
    before = _grids()
    swapped = {
        "type": "Polygon",
        "coordinates": [[[y, x] for x, y in rect(115.97, 115.98)["coordinates"][0]]],
    }
    text = _geojson(
        feature(A1X, None, name="改一"),
        feature(A1Y, None, name="改二"),
        feature(A2X, swapped),
    )
    report = _import(street_staff, layer.street_a, text)
    _refused(report, before)
    assert report.errors[0].number == 3 and "look swapped" in report.errors[0].message


def test_a_failure_while_saving_rolls_everything_back(layer, street_staff, monkeypatch):
    before = _grids()
    real_save = grid_io.services.save_node
    calls = []

    def failing_second(actor, node, **kwargs):
        calls.append(node.code)
        if len(calls) == 2:
            raise ValidationError("disk on fire")
        return real_save(actor, node, **kwargs)

    monkeypatch.setattr(grid_io.services, "save_node", failing_second)
    text = _geojson(feature(A1X, None, name="改一"), feature(A1Y, None, name="改二"))
    report = _import(street_staff, layer.street_a, text)
    assert not report.applied and report.errors[0].message == "disk on fire"
    assert report.errors[0].number == 2
    assert _grids() == before and _audit("territory.grid.update") == []


def test_confirm_checks_again_against_the_database_as_it_is_now(layer, street_staff):
    text = _geojson(feature(A1X, rect(115.96, 115.9655)))
    Grid.all_objects.filter(pk=layer.grid_a1y.pk).update(boundary=rect(115.9655, 115.97))
    assert _import(street_staff, layer.street_a, text, confirm=False).ok
    # Meanwhile someone redraws A1y westwards.
    Grid.all_objects.filter(pk=layer.grid_a1y.pk).update(boundary=rect(115.9645, 115.97))
    before = _grids()
    report = _import(street_staff, layer.street_a, text)
    _refused(report, before)
    assert "overlap by" in _messages(report)[0]


def test_permissions(layer, role_users):
    text = _geojson(feature(B1X, None, name="儒林一"))
    with pytest.raises(PermissionDenied):
        _import(role_users[Role.STREET_STAFF], layer.street_b, text, confirm=False)
    for role in (Role.WORKSTATION_STAFF, Role.GRID_WORKER, Role.DEPARTMENT_STAFF, Role.RESIDENT):
        with pytest.raises(PermissionDenied):
            _import(role_users[role], layer.street_a, _geojson(feature(A1X, None, name="x")))
    report = _import(role_users[Role.DISTRICT_ADMIN], layer.street_b, text)
    assert report.applied and _grids()[B1X][0] == "儒林一"


def test_an_empty_collection_is_not_an_import(layer, street_staff):
    report = _import(street_staff, layer.street_a, _geojson())
    assert not report.applied and _messages(report) == ["The file holds no grids."]


# --- The stored layer -----------------------------------------------------------------------


def test_check_street_on_a_clean_layer(layer):
    check = grid_io.check_street(layer.street_a)
    assert check.ok and check.gaps == [] and check.notes == []


def test_check_street_reports_overlaps_gaps_and_missing_boundaries(layer):
    Grid.all_objects.filter(pk=layer.grid_a1y.pk).update(boundary=rect(115.964, 115.969))
    Grid.all_objects.filter(pk=layer.grid_a2x.pk).update(boundary=None)
    check = grid_io.check_street(layer.street_a)
    assert [(o.a.key, o.b.key) for o in check.overlaps] == [(A1X, A1Y)]
    assert [g.community_code for g in check.gaps] == ["110119001001", "110119001002"]
    assert any("新兴西第一网格 (110119001002001) has no usable boundary" in n for n in check.notes)


# --- Purposes and grid workers --------------------------------------------------------------


def test_purposes_are_set_validated_and_filterable(layer, street_staff):
    grid_io.set_grid_purposes(street_staff, layer.grid_a1x, "党建;应急")
    assert _grids()[A1X][2] == ["party", "emergency"]
    assert _after(_audit("territory.grid.update")[-1])["purposes"] == ["party", "emergency"]
    with active_scope(street_staff.scope):
        found = Grid.objects.filter(Grid.purpose_q("party"))
        assert [g.code for g in found] == [A1X]
        assert not Grid.objects.filter(Grid.purpose_q("city")).exists()
    layer.grid_a1x.purposes = ["party", "party"]
    with unscoped(), pytest.raises(ValidationError, match="listed twice"):
        layer.grid_a1x.full_clean()
    layer.grid_a1x.purposes = ["sports"]
    with unscoped(), pytest.raises(ValidationError, match="Unknown grid purpose: sports"):
        layer.grid_a1x.full_clean()
    with pytest.raises(PermissionDenied):
        grid_io.set_grid_purposes(f.UserFactory(), layer.grid_a1x, "party")


def test_grid_workers_are_assigned_once_and_ended(layer, role_users, street_staff):
    worker = role_users[Role.GRID_WORKER]
    since = datetime.date(2026, 3, 1)
    assignment = grid_io.assign_grid_worker(
        street_staff, layer.grid_a1x, worker, GridWorker.Kind.FULL_TIME, since
    )
    assert assignment.territory_code == A1X
    assert _after(_audit("territory.gridworker.create")[0])["kind"] == "full_time"
    with pytest.raises(ValidationError, match="already a worker of this grid"):
        grid_io.assign_grid_worker(street_staff, layer.grid_a1x, worker, "part_time")
    assert [w.user for w in grid_io.grid_workers(worker, layer.grid_a1x)] == [worker]
    with pytest.raises(ValidationError, match="cannot end before it began"):
        grid_io.end_grid_worker(street_staff, assignment, datetime.date(2026, 2, 1))
    grid_io.end_grid_worker(street_staff, assignment, datetime.date(2026, 6, 30))
    assert list(grid_io.grid_workers(worker, layer.grid_a1x)) == []
    with pytest.raises(ValidationError, match="already ended"):
        grid_io.end_grid_worker(street_staff, assignment)
    # Ended, so the same person may be assigned again (part-time now).
    again = grid_io.assign_grid_worker(street_staff, layer.grid_a1x, worker, "part_time")
    assert again.pk != assignment.pk


def test_grid_worker_permissions_and_constraints(layer, role_users):
    worker = role_users[Role.GRID_WORKER]
    for role in (Role.GRID_WORKER, Role.WORKSTATION_STAFF, Role.DEPARTMENT_STAFF):
        with pytest.raises(PermissionDenied):
            grid_io.assign_grid_worker(role_users[role], layer.grid_a1x, worker, "full_time")
    with pytest.raises(PermissionDenied):  # street staff of A, grid of B
        grid_io.assign_grid_worker(
            role_users[Role.STREET_STAFF], layer.grid_b1x, worker, "full_time"
        )
    with pytest.raises(ValidationError, match="kind"):
        grid_io.assign_grid_worker(
            role_users[Role.STREET_STAFF], layer.grid_a1x, worker, "volunteer"
        )
    worker.is_active = False
    with pytest.raises(ValidationError, match="active user"):
        grid_io.assign_grid_worker(
            role_users[Role.STREET_STAFF], layer.grid_a1x, worker, "full_time"
        )
    GridWorker.all_objects.create(grid=layer.grid_a1y, user=worker, kind="full_time")
    with pytest.raises(IntegrityError), transaction.atomic():
        GridWorker.all_objects.create(grid=layer.grid_a1y, user=worker, kind="part_time")


def test_purposes_display(layer):
    layer.grid_a1x.purposes = ["party", "governance", "city", "emergency"]
    assert layer.grid_a1x.get_purposes_display() == (
        "Party building、Comprehensive governance、City management、Emergency"
    )
    layer.grid_a1x.purposes = []
    assert layer.grid_a1x.get_purposes_display() == ""


def test_an_assignment_sent_twice_at_once_is_refused_not_a_500(
    layer, role_users, street_staff, monkeypatch
):
    """Both requests pass the "already assigned?" check before either saves: the database's
    unique constraint refuses the second, and the service says so as for a sequential repeat."""
    worker = role_users[Role.GRID_WORKER]
    grid_io.assign_grid_worker(street_staff, layer.grid_a1x, worker, GridWorker.Kind.FULL_TIME)
    monkeypatch.setattr(GridWorker, "full_clean", lambda self: None)
    monkeypatch.setattr(
        GridWorker.all_objects, "filter", lambda **kwargs: GridWorker.all_objects.none()
    )
    with pytest.raises(ValidationError, match="already a worker of this grid"):
        grid_io.assign_grid_worker(street_staff, layer.grid_a1x, worker, "part_time")
    monkeypatch.undo()
    with unscoped():
        assert GridWorker.all_objects.filter(grid=layer.grid_a1x, user=worker).count() == 1

"""Grid layers in and out: GeoJSON and CSV with a WKT column, checked before anything is saved
(domain.md §1, §9). See docs/grids.md.

Reading a boundary: structure (Polygon or MultiPolygon of [longitude, latitude] numbers) →
unclosed rings closed with a warning → ring sizes → in China (or latitude/longitude swapped) →
GCJ-02 / BD-09 converted to WGS-84 → valid (not crossing itself) → exterior counter-clockwise
(RFC 7946), which is normalised, never an error. A street's layer is then checked as a whole:
grids inside the street, no overlaps beyond a tolerance, and gaps in each community reported.

Areas in m² use a local equirectangular projection around the street (x scaled by cos(latitude)):
over a few kilometres it is within 0.1 % of the true area, ample for a 1 m² tolerance.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import shapely
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from shapely import affinity
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from shapely.strtree import STRtree
from shapely.validation import explain_validity

from jiedao.audit.models import AuditEntry
from jiedao.audit.services import log_action, snapshot
from jiedao.cases.coords import CRS, out_of_china, to_wgs84
from jiedao.core import geo
from jiedao.core.scopes import code_within, unscoped
from jiedao.core.selectors import visible
from jiedao.territory import codes, services
from jiedao.territory.models import (
    Community,
    Grid,
    GridPurpose,
    GridWorker,
    Street,
    TerritoryNode,
    validate_purposes,
)

EARTH_RADIUS_M = geo.EARTH_RADIUS_M
M_PER_DEG = geo.METRES_PER_DEGREE
MAX_FEATURES = 5000
NAME_MAX = 120
CSV_COLUMNS = ("code", "name", "community", "purposes", "workers", "wkt")
# Short Chinese names accepted for purposes in files (people type these in Excel).
PURPOSE_ALIASES = {"党建": "party", "综治": "governance", "城管": "city", "应急": "emergency"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
GEOJSON, CSV = "geojson", "csv"
FORMATS = (GEOJSON, CSV)

Point = tuple[float, float]  # (lng, lat), GeoJSON order
Rings = list[list[Point]]  # one polygon: exterior ring first, then holes


def tolerance_m2() -> float:
    """Overlaps, crossings and gaps at or below this area are drawing noise, not problems."""
    return float(getattr(settings, "JIEDAO_GRID_TOLERANCE_M2", 1.0))


def max_upload_bytes() -> int:
    return int(getattr(settings, "JIEDAO_GRID_IMPORT_MAX_BYTES", 3 * 1024 * 1024))


def _error(message: str, code: str, **params: Any) -> ValidationError:
    return ValidationError(message % params if params else message, code=code)


def message_of(exc: ValidationError) -> str:
    return " ".join(str(m) for m in exc.messages)


# --- One boundary ---------------------------------------------------------------------------


@dataclass
class CleanGeometry:
    """A boundary ready to store: WGS-84 GeoJSON with counter-clockwise exteriors."""

    geojson: dict[str, Any]
    shape: BaseGeometry
    warnings: list[str] = field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _position(value: Any) -> Point:
    pair = (
        [_number(v) for v in value[:2]]
        if isinstance(value, list | tuple) and len(value) >= 2
        else []
    )
    if len(pair) != 2 or pair[0] is None or pair[1] is None:
        shown = json.dumps(value, default=str)[:60]
        raise _error(
            _("Each position must be [longitude, latitude] numbers, not %(value)s."),
            "position",
            value=shown,
        )
    return pair[0], pair[1]


def _rings(polygon: Any) -> Rings:
    if not isinstance(polygon, list) or not polygon:
        raise _error(_("A polygon needs at least one ring of positions."), "no_ring")
    rings = []
    for ring in polygon:
        if not isinstance(ring, list):
            raise _error(_("A ring must be a list of positions."), "ring_type")
        rings.append([_position(p) for p in ring])
    return rings


def polygons_from_geojson(geometry: Any) -> list[Rings]:
    """The rings of a GeoJSON Polygon or MultiPolygon, as (lng, lat) floats (no checks yet)."""
    if not isinstance(geometry, dict):
        raise _error(_("The geometry is not a GeoJSON object."), "geometry_type")
    kind = geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise _error(
            _("The geometry must be a Polygon or MultiPolygon, not %(type)s."),
            "geometry_type",
            type=json.dumps(kind, default=str)[:40],
        )
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or not coordinates:
        raise _error(_("The geometry has no coordinates."), "no_coordinates")
    return [_rings(p) for p in ([coordinates] if kind == "Polygon" else coordinates)]


def polygons_from_wkt(text: str) -> tuple[list[Rings], bool]:
    """The rings of a WKT POLYGON or MULTIPOLYGON, and whether a ring had to be closed."""
    closed = False
    try:
        try:
            geom = shapely.from_wkt(text)
        except GEOSException as exc:
            if "closed" not in str(exc):
                raise
            geom, closed = shapely.from_wkt(text, on_invalid="fix"), True
    except (GEOSException, ValueError, TypeError) as exc:
        message = _("The WKT cannot be read: %(error)s")
        raise _error(message, "wkt", error=str(exc)[:200]) from exc
    if not isinstance(geom, Polygon | MultiPolygon):
        raise _error(
            _("The geometry must be a Polygon or MultiPolygon, not %(type)s."),
            "geometry_type",
            type=getattr(geom, "geom_type", "?"),
        )
    if geom.is_empty:
        raise _error(_("The geometry has no coordinates."), "no_coordinates")
    parts = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    polygons = [
        [[(c[0], c[1]) for c in ring.coords] for ring in (part.exterior, *part.interiors)]
        for part in parts
    ]
    return polygons, closed


def close_rings(polygons: list[Rings]) -> tuple[list[Rings], int]:
    """Rings whose last position is not their first get the first one repeated. Unambiguous
    (every reader closes them this way), so it is a warning, not a refusal."""
    closed, result = 0, []
    for rings in polygons:
        fixed = []
        for ring in rings:
            if ring and ring[0] != ring[-1]:
                ring, closed = [*ring, ring[0]], closed + 1
            fixed.append(ring)
        result.append(fixed)
    return result, closed


def check_ring_sizes(polygons: list[Rings]) -> None:
    for rings in polygons:
        for ring in rings:
            if len(ring) < 4 or len(set(ring)) < 3:
                raise _error(
                    _(
                        "A ring needs at least 3 different corners (4 positions with the first "
                        "repeated at the end); this one has %(n)d positions."
                    ),
                    "too_few_points",
                    n=len(ring),
                )


def _not_degrees(lng: float, lat: float) -> bool:
    return not (-180 <= lng <= 180 and -90 <= lat <= 90)


def check_in_china(points: Sequence[Point]) -> None:
    """Refuse positions outside China, saying so plainly when longitude and latitude are swapped
    (every position outside, every swapped one inside)."""
    outside = [p for p in points if out_of_china(*p)]
    if not outside:
        return
    if len(outside) == len(points) and not any(out_of_china(lat, lng) for lng, lat in points):
        raise _error(
            _(
                "Latitude and longitude look swapped: GeoJSON and WKT give longitude first "
                "(for example 115.97, 40.46 in Yanqing)."
            ),
            "swapped",
        )
    lng, lat = outside[0]
    if _not_degrees(lng, lat):
        raise _error(
            _(
                "The position %(lng)s, %(lat)s is not in degrees of longitude and latitude "
                "(projected coordinates?)."
            ),
            "not_degrees",
            lng=lng,
            lat=lat,
        )
    raise _error(
        _("The position %(lng)s, %(lat)s lies outside China: check the coordinates."),
        "outside_china",
        lng=lng,
        lat=lat,
    )


def convert_to_wgs84(polygons: list[Rings], crs: str) -> list[Rings]:
    if crs == CRS.WGS84:
        return polygons
    try:
        return [
            [[to_wgs84(lng, lat, crs) for lng, lat in ring] for ring in rings] for rings in polygons
        ]
    except ValueError as exc:
        raise _error(_("Unknown coordinate system: %(crs)s."), "crs", crs=crs) from exc


def build_shape(polygons: list[Rings]) -> BaseGeometry:
    """A valid shapely (Multi)Polygon, or the reason it is not one."""
    parts = [Polygon(rings[0], rings[1:]) for rings in polygons]
    shape: BaseGeometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    if not shape.is_valid:
        raise _error(
            _("The boundary is not a valid polygon (it may cross itself): %(reason)s."),
            "invalid_polygon",
            reason=explain_validity(shape),
        )
    if shape.area == 0:
        raise _error(_("The boundary encloses no area."), "no_area")
    return shape


def normalise_winding(shape: BaseGeometry) -> BaseGeometry:
    """Exterior rings counter-clockwise, holes clockwise (RFC 7946 §3.1.6); idempotent."""
    return shapely.orient_polygons(shape)


def to_geojson(shape: BaseGeometry) -> dict[str, Any]:
    """Plain lists of [lng, lat] (no tuples, no altitude): what the JSONField stores."""
    data = mapping(shape)

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list) and value and isinstance(value[0], float | int):
            return [float(value[0]), float(value[1])]
        return [plain(v) for v in value]

    return {"type": data["type"], "coordinates": plain(data["coordinates"])}


def clean_polygons(polygons: list[Rings], crs: str = CRS.WGS84) -> CleanGeometry:
    polygons, closed = close_rings(polygons)
    check_ring_sizes(polygons)
    check_in_china([p for rings in polygons for ring in rings for p in ring])
    shape = normalise_winding(build_shape(convert_to_wgs84(polygons, crs)))
    geojson = to_geojson(shape)
    final = geo.shape_from_geojson(geojson)  # the same gate as every saved boundary
    warnings = []
    if closed:
        warnings.append(
            ngettext(
                "%(n)d ring was not closed: it was closed by repeating its first position.",
                "%(n)d rings were not closed: they were closed by repeating their first position.",
                closed,
            )
            % {"n": closed}
        )
    return CleanGeometry(geojson, final, warnings)


def clean_geometry(geometry: Any, crs: str = CRS.WGS84) -> CleanGeometry:
    """A GeoJSON Polygon/MultiPolygon checked, converted to WGS-84 and normalised
    (ValidationError with a clear message otherwise)."""
    return clean_polygons(polygons_from_geojson(geometry), crs)


def clean_wkt(text: str, crs: str = CRS.WGS84) -> CleanGeometry:
    polygons, closed = polygons_from_wkt(text)
    result = clean_polygons(polygons, crs)
    if closed and not result.warnings:
        result.warnings.append(
            _("A ring was not closed: it was closed by repeating its first position.")
        )
    return result


def to_wkt(geojson: dict[str, Any]) -> str:
    """WKT with every coordinate written in full (repr), so a round trip loses nothing."""

    def ring(positions: list[list[float]]) -> str:
        return "(" + ", ".join(f"{p[0]!r} {p[1]!r}" for p in positions) + ")"

    def polygon(rings: list[list[list[float]]]) -> str:
        return "(" + ", ".join(ring(r) for r in rings) + ")"

    if geojson["type"] == "Polygon":
        return "POLYGON " + polygon(geojson["coordinates"])
    return "MULTIPOLYGON (" + ", ".join(polygon(p) for p in geojson["coordinates"]) + ")"


# --- Areas and the layer as a whole ---------------------------------------------------------


def area_m2(shape: BaseGeometry, origin: Point) -> float:
    """Area in m² on a local equirectangular projection around ``origin`` (lng, lat)."""
    if shape.is_empty:
        return 0.0
    kx = M_PER_DEG * math.cos(math.radians(origin[1]))
    ky = M_PER_DEG
    projected = affinity.affine_transform(shape, [kx, 0, 0, ky, -kx * origin[0], -ky * origin[1]])
    return float(projected.area)


def _robust(
    operation: Callable[..., BaseGeometry], a: BaseGeometry, b: BaseGeometry
) -> BaseGeometry:
    """Overlay with a snapping fallback: a rare topology error must not stop a report."""
    try:
        return operation(a, b)
    except GEOSException:
        return operation(a, b, grid_size=1e-10)


@dataclass(frozen=True)
class LayerGrid:
    """One grid of a street's layer: stored, or as an import would leave it."""

    key: str  # the code, or "new:<number>" for a grid numbered on import
    label: str
    community_code: str
    shape: BaseGeometry
    number: int | None = None  # the feature or row it comes from, if imported


@dataclass(frozen=True)
class Overlap:
    a: LayerGrid
    b: LayerGrid
    area_m2: float
    where: Point


@dataclass(frozen=True)
class Outside:
    grid: LayerGrid
    container: str  # the street's or community's name
    area_m2: float


@dataclass(frozen=True)
class Gap:
    community_code: str
    community_name: str
    area_m2: float
    pieces: tuple[BaseGeometry, ...]


@dataclass
class LayerCheck:
    overlaps: list[Overlap] = field(default_factory=list)
    outside_street: list[Outside] = field(default_factory=list)
    outside_community: list[Outside] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.overlaps or self.outside_street)


def find_overlaps(grids: Sequence[LayerGrid], tolerance: float, origin: Point) -> list[Overlap]:
    tree = STRtree([g.shape for g in grids])
    found = []
    for i, grid in enumerate(grids):
        for j in sorted(int(k) for k in tree.query(grid.shape, predicate="intersects")):
            if j <= i:
                continue
            common = _robust(shapely.intersection, grid.shape, grids[j].shape)
            area = area_m2(common, origin)
            if area > tolerance:
                point = common.representative_point()
                found.append(Overlap(grid, grids[j], area, (point.x, point.y)))
    return found


def find_gaps(
    container: BaseGeometry, parts: Sequence[BaseGeometry], tolerance: float, origin: Point
) -> tuple[float, tuple[BaseGeometry, ...]]:
    """The pieces of ``container`` no part covers, each above the tolerance, and their area."""
    rest = _robust(shapely.difference, container, unary_union(list(parts))) if parts else container
    pieces = tuple(
        piece
        for piece in getattr(rest, "geoms", [rest])
        if isinstance(piece, Polygon) and area_m2(piece, origin) > tolerance
    )
    return sum(area_m2(p, origin) for p in pieces), pieces


def outside_m2(shape: BaseGeometry, container: BaseGeometry, origin: Point) -> float:
    return area_m2(_robust(shapely.difference, shape, container), origin)


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    shape: BaseGeometry | None


def check_layer(
    street: Area,
    communities: Sequence[Area],
    grids: Sequence[LayerGrid],
    tolerance: float | None = None,
) -> LayerCheck:
    """Overlaps, grids beyond their street or community, and gaps in each community."""
    tolerance = tolerance_m2() if tolerance is None else tolerance
    check = LayerCheck()
    anchor = street.shape
    if anchor is None and grids:
        anchor = unary_union([g.shape for g in grids])
    if anchor is None or anchor.is_empty:
        return check
    centre = anchor.centroid
    origin = (centre.x, centre.y)
    check.overlaps = find_overlaps(grids, tolerance, origin)
    if street.shape is None:
        check.notes.append(_("No boundary is recorded for the street: crossings not checked."))
    else:
        check.outside_street = _outside(grids, {g.key: street for g in grids}, tolerance, origin)
    by_code = {c.code: c for c in communities}
    owners = {g.key: by_code[g.community_code] for g in grids if g.community_code in by_code}
    check.outside_community = _outside(grids, owners, tolerance, origin)
    for community in communities:
        if community.shape is None:
            check.notes.append(
                _("No boundary is recorded for %(community)s: gaps not checked.")
                % {"community": community.name}
            )
            continue
        parts = [g.shape for g in grids if g.community_code == community.code]
        area, pieces = find_gaps(community.shape, parts, tolerance, origin)
        if pieces:
            check.gaps.append(Gap(community.code, community.name, area, pieces))
    return check


def _outside(
    grids: Sequence[LayerGrid], containers: dict[str, Area], tolerance: float, origin: Point
) -> list[Outside]:
    found = []
    for grid in grids:
        container = containers.get(grid.key)
        if container is None or container.shape is None:
            continue
        area = outside_m2(grid.shape, container.shape, origin)
        if area > tolerance:
            found.append(Outside(grid, container.name, area))
    return found


def _shape_or_none(boundary: Any) -> BaseGeometry | None:
    if not boundary:
        return None
    try:
        return geo.shape_from_geojson(boundary)
    except ValidationError:
        return None


def street_areas(street: Street) -> tuple[Area, list[Area]]:
    with unscoped():
        rows = Community.all_objects.filter(street=street, retired_at__isnull=True)
        communities = [Area(c.code, c.name, _shape_or_none(c.boundary)) for c in rows]
    return Area(street.code, street.name, _shape_or_none(street.boundary)), communities


def stored_layer(street: Street) -> tuple[list[LayerGrid], list[str]]:
    """The street's active grids with a usable boundary, and notes on those without one."""
    grids, notes = [], []
    for grid in _street_grids(street).filter(retired_at__isnull=True):
        shape = _shape_or_none(grid.boundary)
        if shape is None:
            notes.append(
                _("%(grid)s (%(code)s) has no usable boundary: not checked.")
                % {"grid": grid.name, "code": grid.code}
            )
            continue
        grids.append(LayerGrid(grid.code, _label(grid.code, grid.name), grid.code[:12], shape))
    return grids, notes


def _street_grids(street: Street) -> QuerySet[Grid]:
    return Grid.all_objects.filter(code_within("code", codes.scope_prefix(street.code)))


def _label(code: str, name: str) -> str:
    return f"{name} ({code})" if code else name


def check_street(street: Street) -> LayerCheck:
    """The grid-check page: the stored layer of one street."""
    grids, notes = stored_layer(street)
    street_area, communities = street_areas(street)
    check = check_layer(street_area, communities, grids)
    check.notes = notes + check.notes
    return check


# --- Files in -------------------------------------------------------------------------------


@dataclass
class Problem:
    number: int | None  # the feature or row; None: the whole file
    message: str
    code: str = ""  # the grid code concerned, when known
    warning: bool = False


@dataclass
class GridRow:
    """One feature or CSV row; None in a field means "leave as it is"."""

    number: int
    code: str
    name: str | None
    community_code: str
    purposes: list[str] | None
    geometry: CleanGeometry | None
    action: str = ""  # create, update or unchanged
    redraws: bool = False  # a new boundary, different from the stored one


@dataclass
class ImportReport:
    fmt: str
    crs: str
    rows: list[GridRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    applied: bool = False

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.warning]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.errors

    def count(self, action: str) -> int:
        return sum(1 for row in self.rows if row.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {action: self.count(action) for action in ("create", "update", "unchanged")}


def decode_upload(data: bytes) -> str:
    """UTF-8 (with or without BOM); GB18030 as Excel on a Chinese Windows saves CSV."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _error(_("The file is neither UTF-8 nor GB18030 text."), "encoding")


def parse_purposes(value: Any) -> list[str]:
    """Purpose values (or 党建/综治/城管/应急) from a list or a text split on ; , 、 or spaces."""
    if value is None:
        return []
    items = re.split(r"[;,，；、|\s]+", value) if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise _error(_("Purposes must be a list or text."), "purposes_type")
    chosen = {PURPOSE_ALIASES.get(v.strip(), v.strip().lower()) for v in items if v.strip()}
    unknown = sorted(chosen - set(GridPurpose.values))
    if unknown:
        raise _error(
            _("Unknown grid purpose %(values)s: use %(allowed)s."),
            "purposes_unknown",
            values=", ".join(unknown)[:80],
            allowed=", ".join(GridPurpose.values),
        )
    return [p for p in GridPurpose.values if p in chosen]


def _text(value: Any, label: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _error(_("The %(field)s must be text."), "text", field=label)
    text = str(value).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise _error(_("The %(field)s contains control characters."), "control", field=label)
    return text


def _unescape(text: str) -> str:
    """Our CSV export writes '=… for names that start like a formula; take the quote off."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def _properties_row(number: int, props: dict[str, Any], problems: list[Problem]) -> GridRow:
    row = GridRow(number, "", None, "", None, None)
    for key, label in (("code", _("code")), ("name", _("name")), ("community", _("community"))):
        try:
            value = _text(props.get(key), label)
        except ValidationError as exc:
            problems.append(Problem(number, message_of(exc)))
            continue
        if key == "code":
            row.code = value
        elif key == "name":
            row.name = _unescape(value) or None
        else:
            row.community_code = value
    if "purposes" in props:
        try:
            row.purposes = parse_purposes(props["purposes"])
        except ValidationError as exc:
            problems.append(Problem(number, message_of(exc), row.code))
    return row


def _feature_row(number: int, feature: Any, crs: str, problems: list[Problem]) -> GridRow | None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        problems.append(Problem(number, _("This is not a GeoJSON Feature.")))
        return None
    props = feature.get("properties")
    if props is not None and not isinstance(props, dict):
        problems.append(Problem(number, _("The feature's properties must be an object.")))
        return None
    row = _properties_row(number, props or {}, problems)
    if "geometry" not in feature:
        problems.append(Problem(number, _("The feature has no geometry member."), row.code))
        return row
    if feature["geometry"] is not None:
        row.geometry = _geometry_or_problem(
            number, row.code, problems, lambda: clean_geometry(feature["geometry"], crs)
        )
    return row


def _geometry_or_problem(
    number: int, code: str, problems: list[Problem], clean: Callable[[], CleanGeometry]
) -> CleanGeometry | None:
    try:
        result = clean()
    except ValidationError as exc:
        problems.append(Problem(number, message_of(exc), code))
        return None
    problems.extend(Problem(number, w, code, warning=True) for w in result.warnings)
    return result


def parse_geojson(text: str, crs: str = CRS.WGS84) -> tuple[list[GridRow], list[Problem]]:
    problems: list[Problem] = []
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return [], [Problem(None, _("The file is not valid JSON: %(error)s") % {"error": exc})]
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "Feature":
        features: Any = [data]
    elif kind == "FeatureCollection":
        features = data.get("features")
    else:
        message = _("The file must be a GeoJSON FeatureCollection (or one Feature).")
        return [], [Problem(None, message)]
    if not isinstance(features, list):
        return [], [Problem(None, _("The FeatureCollection has no list of features."))]
    if len(features) > MAX_FEATURES:
        message = _("The file has more than %(n)d features.") % {"n": MAX_FEATURES}
        return [], [Problem(None, message)]
    rows = [_feature_row(n, f, crs, problems) for n, f in enumerate(features, start=1)]
    return [r for r in rows if r is not None], problems


def parse_csv(text: str, crs: str = CRS.WGS84) -> tuple[list[GridRow], list[Problem]]:
    """Columns (first row): code, name, community, purposes, wkt; ``workers`` is ignored.
    Numbers are spreadsheet rows: the header is row 1."""
    reader = csv.reader(io.StringIO(text))
    problems: list[Problem] = []
    rows: list[GridRow] = []
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in ("code", "wkt") if c not in header]
        if missing:
            message = _("The first row must name the columns %(columns)s (missing: %(missing)s).")
            params = {"columns": ", ".join(CSV_COLUMNS), "missing": ", ".join(missing)}
            return [], [Problem(None, message % params)]
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_FEATURES:
                message = _("The file has more than %(n)d rows.") % {"n": MAX_FEATURES}
                return [], [Problem(None, message)]
            rows.append(_csv_row(number, dict(zip(header, cells, strict=False)), crs, problems))
    except csv.Error as exc:
        message = _("The CSV cannot be read at line %(line)d: %(error)s")
        return [], [Problem(None, message % {"line": reader.line_num, "error": exc})]
    return rows, problems


def _csv_row(number: int, record: dict[str, str], crs: str, problems: list[Problem]) -> GridRow:
    props: dict[str, Any] = {k: record[k] for k in ("code", "name", "community") if k in record}
    if "purposes" in record:
        props["purposes"] = record["purposes"]
    row = _properties_row(number, props, problems)
    wkt = (record.get("wkt") or "").strip()
    if wkt:
        row.geometry = _geometry_or_problem(number, row.code, problems, lambda: clean_wkt(wkt, crs))
    return row


def parse_file(text: str, fmt: str, crs: str) -> tuple[list[GridRow], list[Problem]]:
    if crs not in set(CRS):
        return [], [Problem(None, _("Unknown coordinate system: %(crs)s.") % {"crs": crs})]
    if fmt == GEOJSON:
        return parse_geojson(text, crs)
    if fmt == CSV:
        return parse_csv(text, crs)
    return [], [Problem(None, _("Unknown file format: %(fmt)s.") % {"fmt": fmt})]


def guess_format(filename: str, text: str) -> str:
    name = filename.lower()
    if name.endswith((".geojson", ".json")):
        return GEOJSON
    if name.endswith(".csv"):
        return CSV
    return GEOJSON if text.lstrip().startswith("{") else CSV


# --- Import: plan (dry run) and apply -------------------------------------------------------


def require_grid_editor(actor: Any, node: TerritoryNode) -> None:
    """Grids are drawn by the street and above (``actor`` None: the system itself)."""
    if actor is not None and not actor.has_perm("territory.change_grid", node):
        raise PermissionDenied(
            _("You may not change this here: it is outside your role or territory.")
        )


@dataclass
class _Context:
    street: Street
    communities: dict[str, Community]
    grids: dict[str, Grid]


def _context(street: Street) -> _Context:
    with unscoped():
        communities = {c.code: c for c in Community.all_objects.filter(street=street)}
        grids = {g.code: g for g in _street_grids(street)}
    return _Context(street, communities, grids)


def _resolve(row: GridRow, ctx: _Context, seen: dict[str, int]) -> str | None:
    """Decide create/update/unchanged for one row; the reason it cannot be imported otherwise."""
    if row.code:
        if not (row.code.isascii() and row.code.isdigit()):
            return _("A grid code is its community's 12 digits followed by 3 digits (not 000).")
        try:
            codes.validate_grid_code(row.code)
        except ValidationError as exc:
            return message_of(exc)
        if row.community_code and row.community_code != row.code[:12]:
            return _("The grid code %(code)s does not belong to community %(community)s.") % {
                "code": row.code,
                "community": row.community_code,
            }
        row.community_code = row.code[:12]
        if row.code in seen:
            return _("The grid code %(code)s appears twice (first at %(first)d).") % {
                "code": row.code,
                "first": seen[row.code],
            }
        seen[row.code] = row.number
    community = ctx.communities.get(row.community_code)
    if not row.community_code:
        return _("Give the grid's code, or its community's code for a new grid.")
    if community is None:
        return _("Community %(community)s is not in %(street)s.") % {
            "community": row.community_code,
            "street": ctx.street.name,
        }
    if community.retired_at is not None:
        return _("Community %(community)s is retired.") % {"community": community.name}
    if row.name is not None and len(row.name) > NAME_MAX:
        return _("The name is longer than %(n)d characters.") % {"n": NAME_MAX}
    stored = ctx.grids.get(row.code) if row.code else None
    if stored is None:
        return _new_grid(row)
    if stored.retired_at is not None:
        return _("Grid %(code)s is retired; codes are never reused.") % {"code": row.code}
    row.action = "unchanged" if _same(row, stored) else "update"
    row.redraws = row.geometry is not None and row.geometry.geojson != stored.boundary
    return None


def _new_grid(row: GridRow) -> str | None:
    if not row.name:
        return _("A new grid needs a name.")
    if row.geometry is None:
        return _("A new grid needs a boundary.")
    row.action, row.redraws = "create", True
    return None


def _same(row: GridRow, grid: Grid) -> bool:
    return (
        (row.name is None or row.name == grid.name)
        and (row.purposes is None or row.purposes == list(grid.purposes or []))
        and (row.geometry is None or row.geometry.geojson == grid.boundary)
    )


def _proposed_layer(
    street: Street, rows: Sequence[GridRow], names: dict[str, str]
) -> tuple[list[LayerGrid], list[str]]:
    """The stored layer with the redrawn boundaries put in place and new grids added."""
    stored, notes = stored_layer(street)
    by_key = {g.key: g for g in stored}
    for row in rows:
        if row.geometry is None or not row.redraws:
            continue
        key = row.code or f"new:{row.number}"
        label = _label(row.code, row.name or names.get(row.code, ""))
        by_key[key] = LayerGrid(key, label, row.community_code, row.geometry.shape, row.number)
    return list(by_key.values()), notes


def _layer_problems(check: LayerCheck) -> list[Problem]:
    problems = []
    for o in check.overlaps:
        imported = [g for g in (o.a, o.b) if g.number is not None]
        message = _("%(a)s and %(b)s overlap by %(area)s m² (around %(lng).6f, %(lat).6f).") % {
            "a": o.a.label,
            "b": o.b.label,
            "area": _m2(o.area_m2),
            "lng": o.where[0],
            "lat": o.where[1],
        }
        number = imported[0].number if imported else None
        problems.append(
            Problem(number, message, _code(imported[0] if imported else o.a), warning=not imported)
        )
    for out in check.outside_street:
        message = _("%(grid)s extends %(area)s m² beyond the boundary of %(street)s.") % {
            "grid": out.grid.label,
            "area": _m2(out.area_m2),
            "street": out.container,
        }
        problems.append(
            Problem(out.grid.number, message, _code(out.grid), warning=out.grid.number is None)
        )
    for out in check.outside_community:
        message = _("%(grid)s extends %(area)s m² beyond its community %(community)s.") % {
            "grid": out.grid.label,
            "area": _m2(out.area_m2),
            "community": out.container,
        }
        problems.append(Problem(out.grid.number, message, _code(out.grid), warning=True))
    for gap in check.gaps:
        problems.append(Problem(None, gap_message(gap), warning=True))
    problems.extend(Problem(None, note, warning=True) for note in check.notes)
    return problems


def _code(grid: LayerGrid) -> str:
    return "" if grid.key.startswith("new:") else grid.key


def _m2(area: float) -> str:
    return f"{area:,.1f}"


def gap_message(gap: Gap) -> str:
    return ngettext(
        "%(area)s m² of %(community)s is covered by no grid (%(n)d piece).",
        "%(area)s m² of %(community)s is covered by no grid (%(n)d pieces).",
        len(gap.pieces),
    ) % {"area": _m2(gap.area_m2), "community": gap.community_name, "n": len(gap.pieces)}


def plan_import(actor: Any, street: Street, text: str, fmt: str, crs: str) -> ImportReport:
    """The dry run: what the file would change and every problem, with nothing written."""
    require_grid_editor(actor, street)
    report = ImportReport(fmt, crs)
    rows, problems = parse_file(text, fmt, crs)
    report.problems = problems
    if not rows and not problems:
        report.problems.append(Problem(None, _("The file holds no grids.")))
    failed = {p.number for p in problems if not p.warning and p.number is not None}
    ctx, seen = _context(street), dict[str, int]()
    for row in rows:
        reason = _resolve(row, ctx, seen)
        if reason:
            report.problems.append(Problem(row.number, reason, row.code))
            row.action = ""
        elif row.number in failed:
            row.action = ""
    report.rows = rows
    if rows:
        names = {code: grid.name for code, grid in ctx.grids.items()}
        layer, notes = _proposed_layer(street, [r for r in rows if r.action], names)
        street_area, communities = street_areas(street)
        check = check_layer(street_area, communities, layer)
        check.notes = notes + check.notes
        report.problems += _layer_problems(check)
    report.problems.sort(key=lambda p: (p.warning, p.number is None, p.number or 0))
    return report


class _RowFailed(Exception):
    def __init__(self, row: GridRow, error: ValidationError) -> None:
        super().__init__(message_of(error))
        self.row, self.error = row, error


def import_grids(
    actor: Any, street: Street, text: str, fmt: str, crs: str, *, confirm: bool = False
) -> ImportReport:
    """Create or update the street's grids from a file. Without ``confirm``: the dry run. With
    it: checked again against the database as it is now, then all rows in one transaction (each
    grid audited, plus one entry for the import), or nothing at all."""
    if not confirm:
        return plan_import(actor, street, text, fmt, crs)
    require_grid_editor(actor, street)
    try:
        with transaction.atomic():
            with unscoped():  # one import per street at a time: the layer is checked as a whole
                Street.all_objects.select_for_update().filter(pk=street.pk).first()
            report = plan_import(actor, street, text, fmt, crs)
            if report.ok:
                _apply(actor, street, report)
    except _RowFailed as failed:
        report.problems.insert(0, Problem(failed.row.number, str(failed), failed.row.code))
        report.applied = False
    return report


def _apply(actor: Any, street: Street, report: ImportReport) -> None:
    ctx = _context(street)
    for row in report.rows:
        if row.action not in ("create", "update"):
            continue
        grid = ctx.grids.get(row.code) if row.code else None
        if grid is None:
            community = ctx.communities[row.community_code]
            code = row.code or services.next_grid_code(community)
            grid = Grid(community=community, code=code, name=row.name or "")
        if row.name is not None:
            grid.name = row.name
        if row.purposes is not None:
            grid.purposes = row.purposes
        try:
            services.save_node(actor, grid, boundary=row.geometry.geojson if row.geometry else None)
        except ValidationError as exc:
            raise _RowFailed(row, exc) from exc
        row.code = grid.code
    report.applied = True
    log_action(
        actor,
        "territory.grid.import",
        street,
        note=(
            f"{report.count('create')} created, {report.count('update')} updated, "
            f"{report.count('unchanged')} unchanged; {report.fmt}; {report.crs}"
        ),
    )


# --- Files out ------------------------------------------------------------------------------


def export_grids(actor: Any, node: TerritoryNode) -> QuerySet[Grid]:
    """The active grids under a street or community that the actor may see, with the number of
    grid workers now assigned."""
    rows = visible(Grid, actor).filter(
        code_within("code", codes.scope_prefix(node.code)), retired_at__isnull=True
    )
    return (
        rows.select_related("community")
        .annotate(workers_count=Count("workers", filter=Q(workers__until__isnull=True)))
        .order_by("code")
    )


def _properties(grid: Grid) -> dict[str, Any]:
    return {
        "code": grid.code,
        "name": grid.name,
        "community": grid.community.code,
        "purposes": list(grid.purposes or []),
        "workers": getattr(grid, "workers_count", 0),
    }


def geojson_document(grids: Iterable[Grid]) -> dict[str, Any]:
    features = [
        {"type": "Feature", "geometry": grid.boundary or None, "properties": _properties(grid)}
        for grid in grids
    ]
    return {"type": "FeatureCollection", "features": features}


def _csv_safe(text: str) -> str:
    """A name that starts like a formula is quoted so Excel or WPS shows it as text."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def csv_document(grids: Iterable[Grid]) -> bytes:
    """UTF-8 with a BOM (Excel then reads Chinese correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for grid in grids:
        props = _properties(grid)
        writer.writerow(
            [
                props["code"],
                _csv_safe(props["name"]),
                props["community"],
                ";".join(props["purposes"]),
                props["workers"],
                to_wkt(grid.boundary) if grid.boundary else "",
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_document(actor: Any, node: TerritoryNode, fmt: str) -> tuple[bytes, int]:
    """The file's bytes and how many grids it holds; the export is audited like list exports."""
    grids = list(export_grids(actor, node))
    if fmt == GEOJSON:
        content = json.dumps(geojson_document(grids), ensure_ascii=False).encode("utf-8")
    else:
        content = csv_document(grids)
    log_action(
        actor,
        "export.grids",
        None,
        note=f"{len(grids)} grids; {node.code}; {fmt}",
        territory_code=node.code,
        kind=AuditEntry.Kind.SENSITIVE_READ,
    )
    return content, len(grids)


# --- Purposes and grid workers (for the grid pages) -----------------------------------------


def set_grid_purposes(actor: Any, grid: Grid, purposes: Any) -> Grid:
    """Replace a grid's purposes (values or 党建/综治/城管/应急); audited as a grid update."""
    grid.purposes = parse_purposes(purposes)
    validate_purposes(grid.purposes)
    services.save_node(actor, grid)
    return grid


def grid_workers(actor: Any, grid: Grid) -> QuerySet[GridWorker]:
    """The grid's current workers, full-time first, as the actor may see them."""
    return (
        visible(GridWorker, actor)
        .filter(grid=grid, until__isnull=True)
        .select_related("user")
        .order_by("kind", "since")
    )


@transaction.atomic
def assign_grid_worker(
    actor: Any, grid: Grid, user: Any, kind: str, since: date | None = None
) -> GridWorker:
    """Assign a user to a grid as a full-time or part-time grid worker. This gives no access:
    grant the user a role (accounts) for that."""
    require_grid_editor(actor, grid)
    if not getattr(user, "is_active", False):
        raise ValidationError(_("Only an active user can be a grid worker."), code="inactive")
    twice = ValidationError(
        _("%(user)s is already a worker of this grid.") % {"user": user}, code="twice"
    )
    with unscoped():
        if GridWorker.all_objects.filter(grid=grid, user=user, until__isnull=True).exists():
            raise twice
        assignment = GridWorker(
            grid=grid, user=user, kind=kind, since=since or timezone.localdate()
        )
        assignment.full_clean()
        try:
            with transaction.atomic():  # a form sent twice at once: the second is refused
                assignment.save()
        except IntegrityError as exc:
            raise twice from exc
    log_action(actor, "territory.gridworker.create", assignment, after=snapshot(assignment))
    return assignment


@transaction.atomic
def end_grid_worker(actor: Any, assignment: GridWorker, on: date | None = None) -> GridWorker:
    require_grid_editor(actor, assignment.grid)
    on = on or timezone.localdate()
    if assignment.until is not None:
        raise ValidationError(_("This assignment has already ended."), code="ended")
    if on < assignment.since:
        raise ValidationError(
            _("An assignment cannot end before it began (%(since)s).")
            % {"since": assignment.since.isoformat()},
            code="before_since",
        )
    before = snapshot(assignment)
    assignment.until = on
    with unscoped():
        assignment.save(update_fields=["until"])
    log_action(
        actor, "territory.gridworker.end", assignment, before=before, after=snapshot(assignment)
    )
    return assignment

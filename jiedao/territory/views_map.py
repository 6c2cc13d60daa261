"""The grid map (grids coloured by an indicator) and the grid profile (网格画像), issue 5.

* ``territory:map`` ``/territory/map/?area=<code>&indicator=<key>``: the map page, with the
  indicator switcher, the legend and the table of values (``&format=xlsx`` exports the table).
* ``territory:map_data`` ``/territory/map/data.json?area=<code>``: the grids as a GeoJSON
  FeatureCollection with every indicator in each feature's properties; boundaries are
  simplified for a district so that its payload stays small.
* ``territory:grid_profile`` ``/territory/grids/<code>/profile/``.

Staff whose grants cover records only (``indicators.may_view_map``): residents and district
departments get 403, anonymous visitors the login page. An area or grid outside the user's
territory is 404, a malformed code or an unknown indicator 400. Figures come from
``jiedao.territory.indicators``; these views lay them out.
"""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace
from typing import Any

import shapely
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from jiedao.core.export import audited_xlsx
from jiedao.core.selectors import scope_of
from jiedao.territory import indicators, selectors
from jiedao.territory.models import District, Grid, Level, Street

# A district's grids are simplified (coverage simplification keeps shared edges shared) to about
# this many degrees (≈ 20 m), and every payload is rounded: 6 decimals (≈ 0.1 m) for a street or
# smaller, 5 (≈ 1 m) for a district. At district zoom a 20 m wiggle is below one pixel.
SIMPLIFY_TOLERANCE = 0.0002
PRECISION = 6
PRECISION_SIMPLIFIED = 5
CACHE_SECONDS = 60
LABELLED_GRIDS = 40  # more permanent labels than this would cover the map
CHART_COLOUR = "#0b3d91"
CHART_COLOUR_LIGHT = "#6c8fc7"


# --- Request checks ------------------------------------------------------------------------


class AreaError(Exception):
    """A bad ``area`` or ``indicator`` parameter: ``status`` 400 (malformed) or 404."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _require_reader(request: HttpRequest) -> None:
    if not indicators.may_view_map(request.user):
        raise PermissionDenied


def _area(request: HttpRequest) -> Any:
    """The area named by ``?area=`` (default: the top of the user's territory)."""
    code = request.GET.get("area", "").strip()
    if not code:
        node = indicators.default_area(request.user)
        if node is None:
            raise AreaError(404, _("No area with grids in your territory."))
        return node
    if not indicators.is_area_code(code):
        raise AreaError(
            400,
            _(
                "The area must be a 12-digit district, street or community code or a "
                "15-digit grid code."
            ),
        )
    node = indicators.find_area(request.user, code)
    if node is None:
        raise AreaError(404, _("No such area in your territory."))
    return node


def _indicator(request: HttpRequest) -> str:
    key = request.GET.get("indicator", "").strip() or indicators.DEFAULT_INDICATOR
    if key not in indicators.INDICATOR_BY_KEY:
        raise AreaError(
            400,
            _("Unknown indicator. Choose one of: %(keys)s.")
            % {"keys": ", ".join(indicators.INDICATOR_KEYS)},
        )
    return key


def _text_error(error: AreaError) -> HttpResponse:
    if error.status == 404:
        raise Http404(error.message)
    return HttpResponseBadRequest(error.message, content_type="text/plain; charset=utf-8")


# --- The map page --------------------------------------------------------------------------


def _trail(node: Any) -> list[Any]:
    """The areas above ``node``, the district first (all visible to the user as structure)."""
    chain: list[Any] = []
    parent = node
    for _step in range(3):
        parent = next(
            (
                getattr(parent, name)
                for name in ("community", "street", "district")
                if hasattr(type(parent), name)
            ),
            None,
        )
        if parent is None:
            break
        chain.insert(0, parent)
    return chain


def _children(request: HttpRequest, node: Any) -> list[Any]:
    """The streets of a district or the communities of a street with grids in the user's
    territory (a community's grids are the table's rows)."""
    rows: Any
    if isinstance(node, District):
        rows = selectors.streets(request.user).filter(district=node)
    elif isinstance(node, Street):
        rows = selectors.communities(request.user, street=node.pk)
    else:
        return []
    scope = scope_of(request.user)
    return [row for row in rows.defer("boundary") if indicators.touches(scope, row.code)]


def _map_url(code: str, indicator: str = "") -> str:
    query = {"area": code, **({"indicator": indicator} if indicator else {})}
    return f"{reverse('territory:map')}?{urlencode(query)}"


def _columns() -> list[tuple[str, Any]]:
    return [
        ("code", _("Code")),
        ("name", _("Grid")),
        ("community", _("Community")),
        *((i.key, str(i.label)) for i in indicators.INDICATORS),
    ]


@login_required
def map_page(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    try:
        node = _area(request)
        selected = _indicator(request)
    except AreaError as error:
        return _text_error(error)
    rows = indicators.grid_indicators(request.user, node.code)
    if request.GET.get("format") == "xlsx":
        records = [SimpleNamespace(**row) for row in rows]
        return audited_xlsx(request, "grid-map", _columns(), records)
    groups = [
        (_("Figures"), [i for i in indicators.INDICATORS if i.group == indicators.FIGURES]),
        (_("Care groups"), [i for i in indicators.INDICATORS if i.group == indicators.CARE]),
    ]
    context = {
        "area": node,
        "trail": [(n, _map_url(n.code, selected)) for n in _trail(node)],
        "children": [(n, _map_url(n.code, selected)) for n in _children(request, node)],
        "groups": groups,
        "indicators": indicators.INDICATORS,
        "selected": selected,
        "selected_label": indicators.INDICATOR_BY_KEY[selected].label,
        "rows": [{**row, "cells": [row[i.key] for i in indicators.INDICATORS]} for row in rows],
        "totals": [indicators.totals(rows)[i.key] for i in indicators.INDICATORS],
        "data_url": f"{reverse('territory:map_data')}?{urlencode({'area': node.code})}",
        "export_query": urlencode({"area": node.code, "indicator": selected, "format": "xlsx"}),
        "partial": not scope_of(request.user).covers_code(node.code),
        "labelled": len(rows) <= LABELLED_GRIDS,
    }
    return render(request, "territory/map.html", context)


# --- The map data (GeoJSON) ------------------------------------------------------------------


def _geometry(boundary: Any) -> dict[str, Any] | None:
    """The stored boundary's geometry (stored as a bare geometry or as a Feature)."""
    if not isinstance(boundary, dict):
        return None
    geometry = boundary.get("geometry") if boundary.get("type") == "Feature" else boundary
    if not isinstance(geometry, dict) or geometry.get("type") not in {"Polygon", "MultiPolygon"}:
        return None
    return geometry


def _rounded(value: Any, digits: int) -> Any:
    if isinstance(value, float | int):
        return round(float(value), digits)
    if isinstance(value, list | tuple):
        return [_rounded(item, digits) for item in value]
    return value


def _rounded_geometry(geometry: dict[str, Any], digits: int) -> dict[str, Any]:
    return {"type": geometry["type"], "coordinates": _rounded(geometry["coordinates"], digits)}


def _shape(geometry: dict[str, Any] | None) -> BaseGeometry | None:
    if geometry is None:
        return None
    try:
        found = shape(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, GEOSException):
        return None
    if found.is_empty or not found.is_valid or not isinstance(found, Polygon | MultiPolygon):
        return None
    return found


def simplified(geometries: list[dict[str, Any] | None], tolerance: float) -> list[Any]:
    """The geometries simplified together as a coverage (neighbours keep one shared edge), each
    checked: an empty or invalid result falls back to simplifying that geometry alone, and a
    boundary that is not a valid polygon is passed through as it is."""
    shapes = [_shape(geometry) for geometry in geometries]
    present = [index for index, found in enumerate(shapes) if found is not None]
    result: list[Any] = list(geometries)
    if not present:
        return result
    inputs = [shapes[index] for index in present]
    try:
        outputs = list(shapely.coverage_simplify(inputs, tolerance))
    except (GEOSException, ValueError):
        outputs = [None] * len(inputs)
    for index, original, output in zip(present, inputs, outputs, strict=True):
        assert original is not None
        if output is None or output.is_empty or not output.is_valid:
            output = original.simplify(tolerance, preserve_topology=True)
        result[index] = mapping(output)
    return result


def feature_collection(request: HttpRequest, node: Any) -> dict[str, Any]:
    """The grids in scope under ``node`` with every indicator, as GeoJSON (RFC 7946); the
    collection also names the area and the indicators (foreign members)."""
    grids = list(indicators.grids_in_scope(request.user, node.code))
    rows = indicators.indicator_rows(request.user, node.code, grids)
    geometries = [_geometry(grid.boundary) for grid in grids]
    simplify = node.level == Level.DISTRICT
    if simplify:
        geometries = simplified(geometries, SIMPLIFY_TOLERANCE)
    digits = PRECISION_SIMPLIFIED if simplify else PRECISION
    features = [
        {
            "type": "Feature",
            "id": row["code"],
            "geometry": _rounded_geometry(geometry, digits) if geometry else None,
            "properties": {key: value for key, value in row.items() if key != "community_code"},
        }
        for row, geometry in zip(rows, geometries, strict=True)
    ]
    return {
        "type": "FeatureCollection",
        "area": {"code": node.code, "name": node.name, "level": node.level},
        "indicators": [{"key": i.key, "label": str(i.label)} for i in indicators.INDICATORS],
        "partial": not scope_of(request.user).covers_code(node.code),
        "simplified": simplify,
        "features": features,
    }


def cached_collection(request: HttpRequest, node: Any) -> str:
    """``feature_collection`` as JSON, shared for CACHE_SECONDS by the users whose record scope
    is the same (the counts depend on nothing else; the language names the indicators). A whole
    district's counts take about a second to gather: the map need not be newer than a minute."""
    scope = scope_of(request.user)
    seen = "*" if scope.everything else ",".join(sorted(scope.prefixes))
    fingerprint = f"{get_language()}|{node.code}|{seen}".encode()
    key = "territory.map_data:" + hashlib.sha256(fingerprint).hexdigest()
    text = cache.get(key)
    if text is None:
        collection = feature_collection(request, node)
        text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
        cache.set(key, text, CACHE_SECONDS)
    return text


def _json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


@login_required
def map_data(request: HttpRequest) -> HttpResponse:
    if not indicators.may_view_map(request.user):
        return _json_error(403, _("The grid map is for staff whose role covers records."))
    try:
        node = _area(request)
    except AreaError as error:
        return _json_error(error.status, error.message)
    response = HttpResponse(cached_collection(request, node), content_type="application/geo+json")
    # Counts of the user's own territory: never in a shared cache, briefly in the browser.
    patch_cache_control(response, private=True, max_age=CACHE_SECONDS)
    return response


# --- The grid profile ------------------------------------------------------------------------


def _bar_chart(labels: list[str], values: list[int], name: str, horizontal: bool) -> str:
    category = {"type": "category", "data": labels, "axisLabel": {"color": "#1b1f24"}}
    value_axis = {"type": "value", "minInterval": 1, "splitNumber": 3}
    option = {
        "grid": {"left": 8, "right": 40, "top": 16, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": value_axis if horizontal else category,
        "yAxis": {**category, "inverse": True} if horizontal else value_axis,
        "series": [
            {
                "type": "bar",
                "name": name,
                "data": values,
                "itemStyle": {"color": CHART_COLOUR},
                "label": {
                    "show": True,
                    "position": "right" if horizontal else "top",
                    "color": "#1b1f24",
                },
            }
        ],
    }
    return json.dumps(option, ensure_ascii=False)


def _line_chart(labels: list[str], values: list[int], name: str) -> str:
    option = {
        "grid": {"left": 8, "right": 24, "top": 24, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": labels, "boundaryGap": False},
        "yAxis": {"type": "value", "minInterval": 1, "splitNumber": 3},
        "series": [
            {
                "type": "line",
                "name": name,
                "data": values,
                "itemStyle": {"color": CHART_COLOUR},
                "areaStyle": {"color": CHART_COLOUR_LIGHT, "opacity": 0.25},
                "label": {"show": True, "color": "#1b1f24"},
            }
        ],
    }
    return json.dumps(option, ensure_ascii=False)


def _profile_grid(request: HttpRequest, code: str) -> Grid:
    """The grid if the user may see its records; 404 otherwise (also for a malformed code)."""
    grid = selectors.grids(request.user).filter(code=code).first()
    if grid is None or not scope_of(request.user).covers_code(grid.code):
        raise Http404(_("No such grid in your territory."))
    return grid


@login_required
def grid_profile(request: HttpRequest, code: str) -> HttpResponse:
    _require_reader(request)
    grid = _profile_grid(request, code)
    profile = indicators.grid_profile(request.user, grid)
    care_groups = profile["care"]["groups"]
    charts = {
        "ages": _bar_chart(
            [band["label"] for band in profile["ages"]],
            [band["count"] for band in profile["ages"]],
            _("Persons"),
            horizontal=False,
        ),
        "care": _bar_chart(
            [group["label"] for group in care_groups],
            [group["count"] for group in care_groups],
            _("Persons"),
            horizontal=True,
        ),
        "months": _line_chart(
            [month["month"] for month in profile["months"]],
            [month["count"] for month in profile["months"]],
            _("Cases received"),
        ),
    }
    context = {
        "grid": grid,
        "object": grid,  # the breadcrumb's trail
        "profile": profile,
        "charts": charts,
        "care_chart_height": max(220, 34 * len(care_groups)),
        "map_url": _map_url(grid.community.code),
    }
    return render(request, "territory/grid_profile.html", context)


urlpatterns: list[URLPattern] = [
    path("map/", map_page, name="map"),
    path("map/data.json", map_data, name="map_data"),
    path("grids/<str:code>/profile/", grid_profile, name="grid_profile"),
]

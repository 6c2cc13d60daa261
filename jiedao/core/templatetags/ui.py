"""Template helpers of the UI shell: table cells, query strings, breadcrumbs, charts and maps."""

from __future__ import annotations

import base64
import json
from typing import Any

from django import template
from django.http import QueryDict
from django.utils.translation import gettext_lazy

from jiedao.core.export import resolve as resolve_path
from jiedao.territory.models import Level

register = template.Library()

# Order and labels of the figures that selectors.figures() and building_figures() return.
FIGURE_LABELS = {
    "grids": gettext_lazy("Grids"),
    "buildings": gettext_lazy("Buildings"),
    "entrances": gettext_lazy("Entrances"),
    "dwellings": gettext_lazy("Dwellings"),
    "households": gettext_lazy("Households"),
    "population": gettext_lazy("Population"),
    "organisations": gettext_lazy("Organisations"),
}
CHART_COLOUR = "#0b3d91"
CHART_COLOUR_LIGHT = "#6c8fc7"


@register.filter
def resolve(obj: Any, path: str) -> Any:
    """``row|resolve:"address.full_text"``: the value a table column shows (as in the export)."""
    return resolve_path(obj, path)


@register.filter
def is_current(url: str, path: str) -> bool:
    """Navigation: the item whose URL is the longest prefix of the path is the current one."""
    return path == url or (url != "/" and path.startswith(url))


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters set (or removed when given None)."""
    request = context.get("request")
    query = request.GET.copy() if request is not None else QueryDict(mutable=True)
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None and value != "":
            query[key] = value
    return query.urlencode()


@register.simple_tag
def figure_items(figures: dict[str, int] | None) -> list[tuple[str, str, int]]:
    """(key, translated label, value) in a fixed order."""
    if not figures:
        return []
    return [
        (key, str(label), figures[key]) for key, label in FIGURE_LABELS.items() if key in figures
    ]


@register.simple_tag
def breakdown_chart(rows: list[dict[str, Any]]) -> str:
    """An ECharts option (JSON) comparing households and population across child areas;
    autoescaping makes it attribute-safe."""
    # Horizontal bars: area names never collide, even on a phone in elder-friendly mode.
    option = {
        "grid": {"left": 8, "right": 56, "top": 32, "bottom": 8, "containLabel": True},
        "legend": {"top": 0},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": [row["name"] for row in rows],
            "axisLabel": {"color": "#1b1f24"},
        },
        "xAxis": {"type": "value", "splitNumber": 3, "axisLabel": {"hideOverlap": True}},
        "series": [
            {
                "type": "bar",
                "name": str(label),
                "data": [row[key] for row in rows],
                "itemStyle": {"color": colour},
                "label": {"show": True, "position": "right", "color": "#1b1f24"},
            }
            for key, label, colour in (
                ("households", FIGURE_LABELS["households"], CHART_COLOUR_LIGHT),
                ("population", FIGURE_LABELS["population"], CHART_COLOUR),
            )
        ],
    }
    return json.dumps(option, ensure_ascii=False)


@register.simple_tag
def map_geojson(node: Any, children: Any = None) -> str:
    """A FeatureCollection of the node's shape and its children's shapes or points ('' if none)."""
    if children is not None and not hasattr(children, "__iter__"):
        children = [children]  # a building shown inside its grid
    features = [_feature(node, "self")] if node is not None else []
    features += [_feature(child, "child") for child in children or []]
    features = [feature for feature in features if feature is not None]
    if not features:
        return ""
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def _feature(obj: Any, role: str) -> dict[str, Any] | None:
    geometry = _geometry(obj)
    if geometry is None:
        return None
    url = obj.get_absolute_url() if role == "child" and hasattr(obj, "get_absolute_url") else ""
    properties = {"name": str(obj), "role": role, "url": url}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _geometry(obj: Any) -> dict[str, Any] | None:
    boundary = getattr(obj, "boundary", None)
    if isinstance(boundary, dict):
        return boundary.get("geometry") if boundary.get("type") == "Feature" else boundary
    lat, lng = getattr(obj, "lat", None), getattr(obj, "lng", None)
    if lat is not None and lng is not None:
        return {"type": "Point", "coordinates": [lng, lat]}
    return None


@register.simple_tag
def territory_trail(obj: Any) -> list[tuple[str, str]]:
    """Breadcrumb (name, url) from the district down to ``obj``'s parent."""
    chain = []
    parent = _parent(obj)
    while parent is not None:
        url = parent.get_absolute_url() if hasattr(parent, "get_absolute_url") else ""
        chain.append((str(parent), url))
        parent = _parent(parent)
    return list(reversed(chain))


def _parent(obj: Any) -> Any:
    for name in ("building", "grid", "community", "street", "district"):
        if hasattr(type(obj), name):
            return getattr(obj, name, None)
    return None


@register.filter
def totp_secret(device: Any) -> str:
    """The TOTP key in base32, grouped by four, for typing into an app that cannot scan."""
    if device is None:
        return ""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@register.filter
def level_label(node: Any) -> str:
    """'Street', 'Community', … in the current language."""
    level = getattr(node, "level", "")
    return str(Level(level).label) if level in Level.values else ""

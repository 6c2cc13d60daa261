"""Geometry helpers (WGS-84 GeoJSON in, shapely out)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry


def shape_from_geojson(data: dict[str, Any]) -> BaseGeometry:
    """A valid Polygon or MultiPolygon from GeoJSON (a bare geometry or a Feature)."""
    geometry = data.get("geometry", data) if isinstance(data, dict) else None
    if not isinstance(geometry, dict) or geometry.get("type") not in {"Polygon", "MultiPolygon"}:
        raise ValidationError(
            _("A boundary must be a GeoJSON Polygon or MultiPolygon."), code="geojson_type"
        )
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValidationError(
            _("The boundary is not valid GeoJSON: %(error)s"), params={"error": exc}
        ) from exc
    if geom.is_empty or not geom.is_valid:
        raise ValidationError(_("The boundary is empty or crosses itself."), code="geojson_invalid")
    min_lng, min_lat, max_lng, max_lat = geom.bounds
    if not (min_lng >= 73 and max_lng <= 136 and min_lat >= 3 and max_lat <= 54):
        raise ValidationError(
            _("The boundary lies outside China: check longitude and latitude order.")
        )
    return geom

"""Geometry helpers (WGS-84 GeoJSON in, shapely out) and distances on the Earth."""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180  # along a meridian


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points (on the mean sphere; within
    0.5 % of the ellipsoid, far below what GPS fixes or the 100 m duplicate rule resolve)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


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

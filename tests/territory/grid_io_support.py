"""Shared geometry for the grid import/export tests: a clean layer on the conftest world.

Street A spans 115.96–115.98 E, 40.46–40.47 N; community A1 is its west half, A2 its east half;
grids A1x and A1y split A1 at 115.965, A2x fills A2. Street B (with B1 and B1x) lies at
115.99–116.00. No overlaps, no gaps, nothing beyond a boundary.
"""

from __future__ import annotations

from typing import Any

import pytest

from jiedao.territory import services

LAT0, LAT1 = 40.46, 40.47


def rect(lng0: float, lng1: float, lat0: float = LAT0, lat1: float = LAT1) -> dict:
    """A counter-clockwise rectangle (RFC 7946 winding)."""
    ring = [[lng0, lat0], [lng1, lat0], [lng1, lat1], [lng0, lat1], [lng0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


def clockwise(geometry: dict) -> dict:
    return {"type": "Polygon", "coordinates": [list(reversed(geometry["coordinates"][0]))]}


BOUNDARIES = {
    "street_a": rect(115.96, 115.98),
    "community_a1": rect(115.96, 115.97),
    "community_a2": rect(115.97, 115.98),
    "grid_a1x": rect(115.96, 115.965),
    "grid_a1y": rect(115.965, 115.97),
    "grid_a2x": rect(115.97, 115.98),
    "street_b": rect(115.99, 116.00),
    "community_b1": rect(115.99, 116.00),
    "grid_b1x": rect(115.99, 116.00),
}


@pytest.fixture
def layer(world):
    """The world with the boundaries above (saved by the system, as the demo generator does)."""
    for attr, boundary in BOUNDARIES.items():
        services.save_node(None, getattr(world, attr), boundary=boundary)
    return world


def feature(code: str, geometry: dict | None, **properties) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": {"code": code, **properties}}


def collection(*features: Any) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}

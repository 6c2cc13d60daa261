"""Point → grid → community → street, through an STRtree over the grid polygons.

The index is built once per process and kept until a grid changes: every grid save or delete
(signals.py) writes a new ``GridIndexGeneration`` token, and each lookup compares the token
with one small query, so other processes rebuild too. Bulk ``update()`` on grids sends no signal:
call ``invalidate()`` after one.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass

import shapely
from django.core.exceptions import ValidationError
from shapely import STRtree
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from jiedao.core import geo
from jiedao.core.scopes import unscoped

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridHit:
    grid_id: int
    grid_code: str
    community_id: int
    community_code: str
    street_id: int
    street_code: str


class GridIndex:
    def __init__(self, hits: list[GridHit], shapes: list[BaseGeometry]) -> None:
        self.hits = hits
        self.shapes = shapes
        for shape in shapes:
            shapely.prepare(shape)
        self.tree = STRtree(shapes)

    def __len__(self) -> int:
        return len(self.hits)

    def locate(self, lng: float, lat: float) -> GridHit | None:
        """The grid containing the point (its edge counts), or None when no grid does. Where
        two grids share an edge the lower code wins, so the answer never depends on order."""
        found = self.tree.query(Point(lng, lat), predicate="intersects")
        if len(found) == 0:
            return None
        return min((self.hits[i] for i in found), key=lambda hit: hit.grid_code)


_lock = threading.Lock()
_cached: list[tuple[str, GridIndex] | None] = [None]


def build_index() -> GridIndex:
    from jiedao.territory.models import Grid

    with unscoped():
        rows = Grid.all_objects.filter(retired_at__isnull=True, boundary__isnull=False).values_list(
            "pk",
            "code",
            "boundary",
            "community_id",
            "community__code",
            "community__street_id",
            "community__street__code",
        )
        hits, shapes = [], []
        for pk, code, boundary, community_id, community_code, street_id, street_code in rows:
            try:
                shapes.append(geo.shape_from_geojson(boundary or {}))
            except ValidationError:  # saved around the service: leave it out, loudly
                logger.warning("grid %s has an invalid boundary; left out of the index", code)
                continue
            hits.append(GridHit(pk, code, community_id, community_code, street_id, street_code))
    return GridIndex(hits, shapes)


def grid_index() -> GridIndex:
    """The current index: one query for the token, a rebuild only when grids changed."""
    token = current_token()
    with _lock:
        cached = _cached[0]
    if cached is not None and cached[0] == token:
        return cached[1]
    index = build_index()
    with _lock:
        _cached[0] = (token, index)
    return index


def locate(lng: float, lat: float) -> GridHit | None:
    """The grid of a WGS-84 point, or None when the point lies in no grid."""
    return grid_index().locate(lng, lat)


def current_token() -> str:
    from jiedao.cases.models import GridIndexGeneration

    return GridIndexGeneration.objects.filter(pk=1).values_list("token", flat=True).first() or ""


def invalidate() -> None:
    """Inside the writing transaction: a new token for every process, and drop our own copy."""
    from jiedao.cases.models import GridIndexGeneration

    GridIndexGeneration.objects.update_or_create(pk=1, defaults={"token": uuid.uuid4().hex})
    with _lock:
        _cached[0] = None

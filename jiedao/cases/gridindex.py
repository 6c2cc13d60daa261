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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
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
        # Each tree index's rank in code order: where grids share an edge the lowest rank wins.
        order = sorted(range(len(hits)), key=lambda i: hits[i].grid_code)
        self.rank = np.empty(len(hits), dtype=np.int64)
        self.rank[order] = np.arange(len(hits), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.hits)

    def locate(self, lng: float, lat: float) -> GridHit | None:
        """The grid containing the point (its edge counts), or None when no grid does. Where
        two grids share an edge the lower code wins, so the answer never depends on order."""
        found = self.tree.query(Point(lng, lat), predicate="intersects")
        if len(found) == 0:
            return None
        return min((self.hits[i] for i in found), key=lambda hit: hit.grid_code)

    def locate_many(
        self, lngs: Sequence[float] | np.ndarray, lats: Sequence[float] | np.ndarray
    ) -> list[GridHit | None]:
        """``locate`` for many points at once, the same answers (edge counts, lower code wins),
        with one vectorised tree query instead of a Python call per point."""
        x = np.asarray(lngs, dtype=np.float64)
        y = np.asarray(lats, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError("lngs and lats must be flat sequences of the same length")
        result: list[GridHit | None] = [None] * len(x)
        if len(x) == 0 or len(self.hits) == 0:
            return result
        points, grids = self.tree.query(shapely.points(x, y), predicate="intersects")
        if len(points) == 0:
            return result
        # Sorted by point, then by the grid's code rank: the first row of each point wins.
        order = np.lexsort((self.rank[grids], points))
        points, grids = points[order], grids[order]
        first = np.flatnonzero(np.r_[True, points[1:] != points[:-1]])
        hits = self.hits
        for point, grid in zip(points[first].tolist(), grids[first].tolist(), strict=True):
            result[point] = hits[grid]
        return result


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

"""Boundaries for the demo street: communities on a jittered lattice, grids tiling each community.

Each community is the quadrilateral between four lattice points; grids are the images of
rectangles in the community's (u, v) square under the bilinear map of its corners. Lines of
constant u or v map to straight lines, so grids are convex quadrilaterals that share edges
exactly. Where a grid's edge meets split points of the neighbouring row, those points are added
to its ring, so neighbouring rings have identical vertices and never overlap."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

from shapely.geometry import Polygon, mapping
from shapely.ops import unary_union

CENTRE_LAT, CENTRE_LNG = 40.465, 115.975
KM_PER_DEG_LAT = 110.95
STREET_AREA_KM2 = 7.45
BASE_COMMUNITIES = 11
# Grids per community -> cells per row (bottom row first).
ROW_LAYOUTS = {3: (2, 1), 4: (2, 2), 5: (3, 2)}
PRECISION = 6  # decimal places: about 10 cm

Point = tuple[float, float]  # (lng, lat), GeoJSON order


def km_per_deg_lng(lat: float = CENTRE_LAT) -> float:
    return 111.32 * math.cos(math.radians(lat))


@dataclass(frozen=True)
class Quad:
    """Corners south-west, south-east, north-east, north-west; u runs east, v north."""

    sw: Point
    se: Point
    ne: Point
    nw: Point

    def at(self, u: float, v: float) -> Point:
        weights = ((1 - u) * (1 - v), u * (1 - v), u * v, (1 - u) * v)
        corners = (self.sw, self.se, self.ne, self.nw)
        lng = sum(w * c[0] for w, c in zip(weights, corners, strict=True))
        lat = sum(w * c[1] for w, c in zip(weights, corners, strict=True))
        return round(lng, PRECISION), round(lat, PRECISION)

    def ring(self) -> list[Point]:
        return [self.sw, self.se, self.ne, self.nw, self.sw]


@dataclass(frozen=True)
class GridCell:
    ring: list[Point]
    # The (u, v) rectangle inside the community quad, for placing points inside the grid.
    u0: float
    u1: float
    v0: float
    v1: float


def lattice_shape(count: int) -> tuple[int, int]:
    """Columns and rows of community cells: a little wider than tall, like the real street."""
    cols = max(1, math.ceil(math.sqrt(count * 1.3)))
    return cols, math.ceil(count / cols)


def community_quads(count: int, rng: random.Random) -> list[Quad]:
    """``count`` community quadrilaterals, row by row from the north-west, around the centre."""
    cols, rows = lattice_shape(count)
    side_km = math.sqrt(STREET_AREA_KM2 / BASE_COMMUNITIES)
    d_lat, d_lng = side_km / KM_PER_DEG_LAT, side_km / km_per_deg_lng()
    north = CENTRE_LAT + rows * d_lat / 2
    west = CENTRE_LNG - cols * d_lng / 2
    jitter = 0.1
    lattice = [
        [
            (
                round(west + (c + rng.uniform(-jitter, jitter)) * d_lng, PRECISION),
                round(north - (r + rng.uniform(-jitter, jitter)) * d_lat, PRECISION),
            )
            for c in range(cols + 1)
        ]
        for r in range(rows + 1)
    ]
    quads = []
    for index in range(count):
        r, c = divmod(index, cols)
        quads.append(
            Quad(
                sw=lattice[r + 1][c],
                se=lattice[r + 1][c + 1],
                ne=lattice[r][c + 1],
                nw=lattice[r][c],
            )
        )
    return quads


def grid_cells(quad: Quad, grid_count: int, rng: random.Random) -> list[GridCell]:
    """Split a community into ``grid_count`` (3-5) convex grids that tile it without overlap."""
    layout = ROW_LAYOUTS[grid_count]
    v_splits = [0.0, *(_jittered(i / len(layout), 0.08, rng) for i in range(1, len(layout))), 1.0]
    u_splits = [[0.0, *(_jittered(i / n, 0.1 / n, rng) for i in range(1, n)), 1.0] for n in layout]
    cells = []
    for row, us in enumerate(u_splits):
        v0, v1 = v_splits[row], v_splits[row + 1]
        below = u_splits[row - 1][1:-1] if row > 0 else []
        above = u_splits[row + 1][1:-1] if row + 1 < len(layout) else []
        for u0, u1 in itertools.pairwise(us):
            uv = [(u0, v0), *((u, v0) for u in below if u0 < u < u1), (u1, v0), (u1, v1)]
            uv += [
                *((u, v1) for u in sorted(above, reverse=True) if u0 < u < u1),
                (u0, v1),
                (u0, v0),
            ]
            cells.append(GridCell([quad.at(u, v) for u, v in uv], u0, u1, v0, v1))
    return cells


def _jittered(value: float, spread: float, rng: random.Random) -> float:
    # Rounded so that both neighbours of a split compute the very same vertex.
    return round(value + rng.uniform(-spread, spread), 4)


def point_in_cell(quad: Quad, cell: GridCell, rng: random.Random, margin: float = 0.12) -> Point:
    """A point strictly inside the grid (the bilinear image of an inner point of its rectangle)."""
    du, dv = cell.u1 - cell.u0, cell.v1 - cell.v0
    u = cell.u0 + du * rng.uniform(margin, 1 - margin)
    v = cell.v0 + dv * rng.uniform(margin, 1 - margin)
    return quad.at(u, v)


def polygon(ring: list[Point]) -> dict:
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def union_polygon(quads: list[Quad]) -> dict:
    """The street's boundary: the union of its communities (they share lattice corners)."""
    shape = unary_union([Polygon(q.ring()) for q in quads])
    data = mapping(shape)
    return {"type": data["type"], "coordinates": _lists(data["coordinates"])}


def _lists(value):
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    return round(value, PRECISION)


def centre(ring: list[Point]) -> Point:
    point = Polygon(ring).representative_point()
    return round(point.x, PRECISION), round(point.y, PRECISION)

"""GridIndex.locate_many: one vectorised query, the same answers as locate point by point
(edges count, the lower code wins where grids share an edge or a corner). No database."""

from __future__ import annotations

import random

import numpy as np
import pytest
from shapely.geometry import box

from jiedao.cases.gridindex import GridHit, GridIndex

STEP = 0.25  # exact in binary floating point: points on edges are really on them


def _hit(n: int, code: str) -> GridHit:
    return GridHit(n, code, 0, code[:12], 0, code[:9] + "000")


def squares(columns: int, rows: int, *, reverse_codes: bool = False) -> GridIndex:
    """A chequerboard of squares sharing edges and corners. With ``reverse_codes`` the tree
    order and the code order disagree, so "first found" and "lowest code" differ."""
    shapes, hits = [], []
    count = columns * rows
    for n in range(count):
        c, r = divmod(n, rows)
        x, y = 116.0 + c * STEP, 40.0 + r * STEP
        shapes.append(box(x, y, x + STEP, y + STEP))
        number = count - n if reverse_codes else n + 1
        hits.append(_hit(n, f"110119001001{number:03d}"))
    return GridIndex(hits, shapes)


def _edge_points(columns: int, rows: int) -> list[tuple[float, float]]:
    """Every lattice corner, the middle of every edge, and points just outside the board."""
    points = []
    for c in range(columns + 1):
        for r in range(rows + 1):
            x, y = 116.0 + c * STEP, 40.0 + r * STEP
            points += [(x, y), (x + STEP / 2, y), (x, y + STEP / 2)]
    points += [(115.999, 40.1), (116.0 + columns * STEP + 0.001, 40.1), (116.1, 39.99)]
    return points


@pytest.mark.parametrize("reverse_codes", [False, True])
def test_agrees_with_locate_on_random_points_edges_and_corners(reverse_codes):
    columns, rows = 6, 4
    index = squares(columns, rows, reverse_codes=reverse_codes)
    rng = random.Random(2026)
    points = [
        (rng.uniform(115.9, 116.0 + columns * STEP + 0.1), rng.uniform(39.9, 41.1))
        for _ in range(3000)
    ]
    # Random lattice points: exactly on shared edges and corners.
    points += [
        (116.0 + rng.randint(0, columns * 2) * STEP / 2, 40.0 + rng.randint(0, rows * 2) * STEP / 2)
        for _ in range(1000)
    ]
    points += _edge_points(columns, rows)
    rng.shuffle(points)
    lngs, lats = [p[0] for p in points], [p[1] for p in points]
    many = index.locate_many(lngs, lats)
    one_by_one = [index.locate(lng, lat) for lng, lat in points]
    assert many == one_by_one
    assert any(hit is None for hit in many) and any(hit is not None for hit in many)


def test_a_shared_corner_goes_to_the_lowest_of_the_four_codes():
    index = squares(2, 2, reverse_codes=True)  # codes 004, 003, 002, 001 in tree order
    [hit] = index.locate_many([116.25], [40.25])  # the corner all four squares share
    assert hit is not None and hit.grid_code == "110119001001001"
    [edge] = index.locate_many(np.array([116.25]), np.array([40.1]))  # squares 0 and 2
    assert edge is not None and edge.grid_code == min(
        index.hits[0].grid_code, index.hits[2].grid_code
    )


def test_inside_outside_and_order_of_the_answers():
    index = squares(2, 1)
    hits = index.locate_many([116.1, 117.0, 116.4, 116.1], [40.1, 40.1, 40.2, 40.1])
    assert [h.grid_code if h else None for h in hits] == [
        "110119001001001",
        None,
        "110119001001002",
        "110119001001001",
    ]


def test_empty_input_and_an_empty_index():
    assert squares(1, 1).locate_many([], []) == []
    assert GridIndex([], []).locate_many([116.1], [40.1]) == [None]


def test_lengths_must_match():
    with pytest.raises(ValueError):
        squares(1, 1).locate_many([116.1, 116.2], [40.1])

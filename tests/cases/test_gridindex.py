"""Point → grid → community → street through the STRtree index."""

from __future__ import annotations

from datetime import date

import pytest

from jiedao.cases import gridindex
from tests import factories as f
from tests.cases.conftest import inside

pytestmark = pytest.mark.django_db


def test_a_point_in_a_grid_gives_grid_community_and_street(world):
    hit = gridindex.locate(*inside(world.grid_a1y))
    assert hit is not None
    assert (hit.grid_id, hit.grid_code) == (world.grid_a1y.pk, world.grid_a1y.code)
    assert (hit.community_id, hit.community_code) == (world.community_a1.pk, "110119001001")
    assert (hit.street_id, hit.street_code) == (world.street_a.pk, "110119001000")


@pytest.mark.parametrize("point", [(116.404, 39.915), (122.0, 30.0), (0.0, 0.0)])
def test_a_point_in_no_grid_gives_none(world, point):
    assert gridindex.locate(*point) is None


def test_the_index_is_built_once_and_rebuilt_when_a_grid_changes(world, monkeypatch):
    built = []
    real = gridindex.build_index
    monkeypatch.setattr(gridindex, "build_index", lambda: built.append(1) or real())
    gridindex.locate(*inside(world.grid_a1x))
    gridindex.locate(*inside(world.grid_a2x))
    assert len(built) == 1
    new = f.GridFactory(community=world.community_a2, boundary=f.square(117.5, 41.0))
    hit = gridindex.locate(117.502, 41.002)
    assert len(built) == 2 and hit is not None and hit.grid_id == new.pk


def test_retired_grids_and_grids_without_boundary_are_left_out(world):
    point = inside(world.grid_b1x)
    world.grid_b1x.retired_at = date(2026, 1, 1)
    world.grid_b1x.save()
    assert gridindex.locate(*point) is None
    f.GridFactory(community=world.community_a1, boundary=None)
    assert len(gridindex.grid_index()) == 3


def test_a_shared_edge_goes_to_the_lower_code(world):
    left = f.GridFactory(community=world.community_a1, boundary=f.square(118.0, 41.0, 0.01))
    right = f.GridFactory(community=world.community_a1, boundary=f.square(118.01, 41.0, 0.01))
    hit = gridindex.locate(118.01, 41.005)
    assert hit is not None and hit.grid_code == min(left.code, right.code)


def test_lookup_uses_the_tree_not_a_loop(world):
    index = gridindex.grid_index()
    assert isinstance(index.tree, gridindex.STRtree)
    assert len(index) == 4

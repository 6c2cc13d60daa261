"""Field-work fixtures on the shared ``world``: the grid worker of grid A1x (``role_users``), a
colleague in the same grid, workers in A1y, A2x (street A) and B1x (street B), and tracks."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from shapely.geometry import shape

from jiedao.accounts.roles import Role
from jiedao.core import geo
from jiedao.fieldwork.models import Patrol
from tests import factories as f

M_PER_DEG = geo.METRES_PER_DEGREE


@pytest.fixture(autouse=True)
def english(client):
    """Pages are checked in English (the UI defaults to zh-hans)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def inside(grid) -> tuple[float, float]:
    point = shape(grid.boundary).representative_point()
    return point.x, point.y


def iso(moment: datetime) -> str:
    return moment.isoformat()


def walk(
    start: datetime,
    n: int,
    origin: tuple[float, float],
    *,
    step_m: float = 10.0,
    every_s: int = 10,
    accuracy: float | None = 5.0,
) -> list[dict]:
    """``n`` fixes walking due east from ``origin``, ``step_m`` apart, every ``every_s``."""
    lng0, lat0 = origin
    per_m = 1 / (M_PER_DEG * math.cos(math.radians(lat0)))
    return [
        {
            "t": iso(start + timedelta(seconds=i * every_s)),
            "lng": round(lng0 + i * step_m * per_m, 7),
            "lat": lat0,
            "accuracy": accuracy,
        }
        for i in range(n)
    ]


def make_patrol(worker, grid, *, started_at=None, ended_at=None, distance_m=0) -> Patrol:
    return Patrol.all_objects.create(
        worker=worker,
        grid=grid,
        started_at=started_at or timezone.now() - timedelta(hours=1),
        ended_at=ended_at,
        distance_m=distance_m,
    )


@pytest.fixture
def worker(role_users):
    return role_users[Role.GRID_WORKER]


@pytest.fixture
def workers(world, role_users):
    """Grid workers by grid: ``a1x`` (role_users'), ``a1x_colleague``, ``a1y``, ``a2x``, ``b1x``."""
    return {
        "a1x": role_users[Role.GRID_WORKER],
        "a1x_colleague": f.user_with_role(Role.GRID_WORKER, world.grid_a1x, username="colleague"),
        "a1y": f.user_with_role(Role.GRID_WORKER, world.grid_a1y, username="worker_a1y"),
        "a2x": f.user_with_role(Role.GRID_WORKER, world.grid_a2x, username="worker_a2x"),
        "b1x": f.user_with_role(Role.GRID_WORKER, world.grid_b1x, username="worker_b1x"),
    }

"""Field-work forms and uploads arriving at the same moment (PostgreSQL only: each thread has
its own connection and commits for real; see tests/races.py for how rows are made and removed).
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from jiedao.accounts.models import User
from jiedao.accounts.roles import Role
from jiedao.core.scopes import unscoped
from jiedao.fieldwork import services
from jiedao.fieldwork.models import Patrol, PatrolFinding, SentForm, TrackPoint
from jiedao.registry.models import Visit
from tests import factories as f
from tests.fieldwork.conftest import inside, walk
from tests.races import RaceWorld, at_once, needs_postgresql, run

pytestmark = pytest.mark.django_db
KEY = "race-start-key-0001"
THREADS = 4


def set_up() -> dict:
    world = RaceWorld("650102000000", "外勤竞态", "FWRACE").build()
    worker = f.user_with_role(Role.GRID_WORKER, world.grid, username="fieldwork-race")
    world.user_ids.append(worker.pk)
    return {"world": world, "worker": worker.pk}


def tear_down(state: dict) -> None:
    with unscoped():
        patrols = Patrol.objects.filter(worker_id=state["worker"])
        TrackPoint.objects.filter(patrol__in=patrols).delete()
        PatrolFinding.objects.filter(patrol__in=patrols).delete()
        patrols.delete()
        Visit.objects.filter(visited_by_id=state["worker"]).delete()
        SentForm.objects.filter(user_id=state["worker"]).delete()
    state["world"].remove()


def worker_of(state: dict) -> User:
    return User.objects.get(pk=state["worker"])


def test_the_same_start_arriving_at_once_makes_one_patrol():
    needs_postgresql()
    state = run(set_up)
    barrier = threading.Barrier(THREADS)
    results: list[object] = []

    def start(_n: int) -> None:
        worker = worker_of(state)
        barrier.wait()
        try:
            results.append(services.start_patrol(worker, state["world"].grid, KEY).pk)
        except Exception as exc:  # anything but the one patrol fails the asserts below
            results.append(exc)

    try:
        at_once(start, [(n,) for n in range(THREADS)])
        assert len(set(results)) == 1 and all(isinstance(r, int) for r in results), results

        def counts():
            with unscoped():
                return (
                    Patrol.objects.filter(worker_id=state["worker"]).count(),
                    SentForm.objects.filter(user_id=state["worker"]).count(),
                )

        assert run(counts) == (1, 1)
    finally:
        run(tear_down, state)


def test_overlapping_uploads_at_once_store_each_fix_once():
    needs_postgresql()
    state = run(set_up)

    def make_patrol() -> tuple[int, list[dict]]:
        with unscoped():
            patrol = Patrol.objects.create(
                worker_id=state["worker"],
                grid=state["world"].grid,
                started_at=timezone.now() - timedelta(hours=1),
            )
        return patrol.pk, walk(
            patrol.started_at + timedelta(minutes=1), 60, inside(state["world"].grid)
        )

    pk, points = run(make_patrol)
    batches = [points[:40], points[20:], points[10:50], points[::2]]
    barrier = threading.Barrier(len(batches))
    accepted: list[int] = []

    def upload(batch: list[dict]) -> None:
        worker = worker_of(state)
        with unscoped():
            patrol = Patrol.objects.get(pk=pk)
        barrier.wait()
        accepted.append(services.record_track(worker, patrol, batch).accepted)

    try:
        at_once(upload, [(batch,) for batch in batches])

        def stored():
            with unscoped():
                patrol = Patrol.objects.get(pk=pk)
                return (
                    TrackPoint.objects.filter(patrol_id=pk).count(),
                    patrol.point_count,
                    patrol.distance_m,
                )

        count, point_count, distance = run(stored)
        assert count == point_count == 60 and sum(accepted) == 60
        assert distance == 590  # 59 legs of 10 m, whatever order the batches took
    finally:
        run(tear_down, state)

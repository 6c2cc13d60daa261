"""A task left RUNNING by a worker that died is put back to READY and then run."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from jiedao.jobs import recovery
from jiedao.jobs.models import WorkerHeartbeat
from jiedao.jobs.recovery import (
    LOST_TASK_MAX_ATTEMPTS,
    beat,
    live_worker_ids,
    mark_stopped,
    recover_stale_tasks,
)
from tests.jobs import sample_tasks
from tests.jobs.helpers import keep_test_connection, run_worker_loop

pytestmark = pytest.mark.django_db

STALE = timedelta(seconds=90)


def claimed_by(worker_id: str, result, started_ago: timedelta, attempts: int = 1) -> DBTaskResult:
    """Make ``result`` look like ``worker_id`` claimed it ``started_ago`` and is running it."""
    row = DBTaskResult.objects.get(id=result.id)
    row.status = TaskResultStatus.RUNNING
    row.started_at = timezone.now() - started_ago
    row.worker_ids = [*["earlier"] * (attempts - 1), worker_id]
    row.save()
    return row


def heartbeat(worker_id: str, seen_ago: timedelta) -> None:
    beat(worker_id)
    WorkerHeartbeat.objects.filter(worker_id=worker_id).update(
        last_seen_at=timezone.now() - seen_ago
    )


def status_of(result) -> str:
    return DBTaskResult.objects.get(id=result.id).status


def test_task_of_a_dead_worker_goes_back_to_ready_and_runs():
    result = sample_tasks.doubles.enqueue(5)
    claimed_by("dead-worker", result, started_ago=timedelta(minutes=10))
    heartbeat("dead-worker", seen_ago=timedelta(minutes=9))

    assert recover_stale_tasks(stale=STALE) == 1
    assert status_of(result) == TaskResultStatus.READY

    run_worker_loop("new-worker")
    row = DBTaskResult.objects.get(id=result.id)
    assert (row.status, row.return_value, row.worker_ids) == (
        "SUCCESSFUL",
        10,
        ["dead-worker", "new-worker"],
    )


def test_task_of_a_stopped_worker_is_recovered():
    result = sample_tasks.doubles.enqueue()
    claimed_by("stopped-worker", result, started_ago=timedelta(minutes=5))
    beat("stopped-worker")
    mark_stopped("stopped-worker")
    assert recover_stale_tasks(stale=STALE) == 1
    assert status_of(result) == TaskResultStatus.READY


def test_task_of_a_live_worker_is_left_alone():
    result = sample_tasks.succeeds.enqueue()
    claimed_by("busy-worker", result, started_ago=timedelta(hours=2))  # a long task
    heartbeat("busy-worker", seen_ago=timedelta(seconds=5))
    assert recover_stale_tasks(stale=STALE) == 0
    assert status_of(result) == TaskResultStatus.RUNNING


def test_recently_started_task_is_not_judged_yet():
    result = sample_tasks.succeeds.enqueue()
    claimed_by("unknown-worker", result, started_ago=timedelta(seconds=10))
    assert recover_stale_tasks(stale=STALE) == 0
    assert status_of(result) == TaskResultStatus.RUNNING


def test_task_that_keeps_losing_its_worker_ends_failed_and_visible():
    result = sample_tasks.doubles.enqueue()
    claimed_by("dead-again", result, started_ago=timedelta(minutes=10), attempts=3)
    assert recover_stale_tasks(stale=STALE) == 1
    row = DBTaskResult.objects.get(id=result.id)
    assert row.status == TaskResultStatus.FAILED
    assert row.exception_class_path == "jiedao.jobs.recovery.WorkerLost"
    assert "dead-again" in row.traceback


def test_run_worker_recovers_on_start_then_works(settings):
    settings.JIEDAO_WORKER_STALE_SECONDS = 60
    lost = sample_tasks.doubles.enqueue(3)
    claimed_by("crashed-worker", lost, started_ago=timedelta(minutes=30))
    heartbeat("crashed-worker", seen_ago=timedelta(minutes=29))

    with keep_test_connection():
        call_command(
            "run_worker", "--batch", "--no-scheduler", "--worker-id", "restarted", verbosity=0
        )

    row = DBTaskResult.objects.get(id=lost.id)
    assert (row.status, row.return_value) == ("SUCCESSFUL", 6)
    worker = WorkerHeartbeat.objects.get(worker_id="restarted")
    assert worker.stopped_at is not None  # a clean exit says so


def test_a_lost_attempt_counts_against_the_jobs_own_max_attempts():
    result = sample_tasks.succeeds.enqueue()  # max_attempts=1: it must not run a second time
    claimed_by("dead-worker", result, started_ago=timedelta(minutes=10))
    assert recover_stale_tasks(stale=STALE) == 1
    row = DBTaskResult.objects.get(id=result.id)
    assert row.status == TaskResultStatus.FAILED
    assert row.exception_class_path == "jiedao.jobs.recovery.WorkerLost"


def test_plain_task_is_put_back_up_to_the_small_default():
    assert LOST_TASK_MAX_ATTEMPTS == 3
    second = sample_tasks.plain_succeeds.enqueue()
    claimed_by("dead-worker", second, started_ago=timedelta(minutes=10), attempts=2)
    third = sample_tasks.plain_succeeds.enqueue()
    claimed_by("dead-worker", third, started_ago=timedelta(minutes=10), attempts=3)

    assert recover_stale_tasks(stale=STALE) == 2
    assert (status_of(second), status_of(third)) == ("READY", "FAILED")


def test_recovery_leaves_a_row_claimed_again_since_it_was_read(monkeypatch):
    result = sample_tasks.doubles.enqueue()
    claimed_by("dead-worker", result, started_ago=timedelta(minutes=10))
    real_live_worker_ids = recovery.live_worker_ids

    def reclaimed_meanwhile(stale):
        # Between reading the candidates and recovering them, the row was put back by another
        # round and claimed by a live worker.
        DBTaskResult.objects.filter(id=result.id).update(worker_ids=["dead-worker", "new-worker"])
        return real_live_worker_ids(stale)

    monkeypatch.setattr(recovery, "live_worker_ids", reclaimed_meanwhile)
    assert recover_stale_tasks(stale=STALE) == 0
    assert status_of(result) == TaskResultStatus.RUNNING


def test_worker_whose_host_clock_lags_is_still_seen_alive():
    result = sample_tasks.doubles.enqueue()
    claimed_by("lagging-host", result, started_ago=timedelta(minutes=10))
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - timedelta(hours=1)):
        beat("lagging-host")  # the first beat creates the row, later ones update it:
        beat("lagging-host")  # its own clock says an hour ago, the database's says now
    assert recover_stale_tasks(stale=STALE) == 0
    assert status_of(result) == TaskResultStatus.RUNNING


def test_recovering_host_whose_clock_runs_ahead_sees_live_workers_alive():
    result = sample_tasks.doubles.enqueue()
    claimed_by("busy-worker", result, started_ago=timedelta(minutes=10))
    beat("busy-worker")
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(hours=1)):
        assert recover_stale_tasks(stale=STALE) == 0
        assert live_worker_ids(STALE) == {"busy-worker"}
    assert status_of(result) == TaskResultStatus.RUNNING

"""A task left RUNNING by a worker that died is put back to READY and then run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from jiedao.jobs.models import WorkerHeartbeat
from jiedao.jobs.recovery import beat, mark_stopped, recover_stale_tasks
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
    result = sample_tasks.succeeds.enqueue(5)
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
    result = sample_tasks.succeeds.enqueue()
    claimed_by("stopped-worker", result, started_ago=timedelta(minutes=5))
    beat("stopped-worker")
    mark_stopped("stopped-worker")
    assert recover_stale_tasks(stale=STALE) == 1


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
    result = sample_tasks.succeeds.enqueue()
    claimed_by("dead-again", result, started_ago=timedelta(minutes=10), attempts=3)
    assert recover_stale_tasks(stale=STALE) == 1
    row = DBTaskResult.objects.get(id=result.id)
    assert row.status == TaskResultStatus.FAILED
    assert row.exception_class_path == "jiedao.jobs.recovery.WorkerLost"
    assert "dead-again" in row.traceback


def test_run_worker_recovers_on_start_then_works(settings):
    settings.JIEDAO_WORKER_STALE_SECONDS = 60
    lost = sample_tasks.succeeds.enqueue(3)
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

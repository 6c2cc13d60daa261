"""Worker heartbeats, and putting back tasks whose worker died while running them.

The database backend marks a task RUNNING when a worker claims it and nothing ever clears that if
the worker is killed. Every ``run_worker`` process writes a heartbeat; a RUNNING task whose
worker has stopped, or has not beaten for ``stale_after``, is put back to READY, so a restart
loses nothing. A task that keeps killing its worker is not retried for ever: once it has used
its attempts it is marked FAILED with :class:`WorkerLost`.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from jiedao.jobs.base import RetryingTask
from jiedao.jobs.models import WorkerHeartbeat

logger = logging.getLogger("jiedao.jobs")

# A plain task (not a @job) lost with its worker is put back this many times at most.
LOST_TASK_MAX_ATTEMPTS = 3


class WorkerLost(Exception):
    """The worker running the task stopped heartbeating before the task finished."""


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "JIEDAO_WORKER_STALE_SECONDS", 90))


def beat(worker_id: str, kind: str = WorkerHeartbeat.Kind.WORKER) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"last_seen_at": now, "stopped_at": None},
        create_defaults={
            "kind": kind,
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "started_at": now,
            "last_seen_at": now,
        },
    )


def mark_stopped(worker_id: str) -> None:
    """Best effort on the way out: if the database is gone the heartbeat simply goes stale."""
    try:
        WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped_at=timezone.now())
    except DatabaseError:
        logger.warning("could not mark worker %s stopped", worker_id)


def live_worker_ids(now: datetime, stale: timedelta) -> set[str]:
    rows = WorkerHeartbeat.objects.filter(stopped_at__isnull=True, last_seen_at__gte=now - stale)
    return set(rows.values_list("worker_id", flat=True))


def recover_stale_tasks(now: datetime | None = None, stale: timedelta | None = None) -> int:
    """Put RUNNING tasks of dead workers back to READY (or FAILED when out of attempts)."""
    now = now or timezone.now()
    stale = stale or stale_after()
    live = live_worker_ids(now, stale)
    # A task is only judged once it has run for longer than a heartbeat may be late.
    candidates = DBTaskResult.objects.running().filter(started_at__lt=now - stale)
    recovered = 0
    for row in candidates:
        if row.worker_ids and row.worker_ids[-1] in live:
            continue
        recovered += _recover(row, now)
    return recovered


def _recover(row: DBTaskResult, now: datetime) -> int:
    worker = row.worker_ids[-1] if row.worker_ids else "?"
    still_running = DBTaskResult.objects.filter(pk=row.pk, status=TaskResultStatus.RUNNING)
    if len(row.worker_ids) >= _attempt_limit(row):
        attempt = len(row.worker_ids)
        message = f"WorkerLost: worker {worker} stopped while running attempt {attempt}\n"
        changed = still_running.update(
            status=TaskResultStatus.FAILED,
            finished_at=now,
            exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
            traceback=message,
        )
        logger.warning("task %s lost with worker %s, out of attempts: FAILED", row.pk, worker)
        return changed
    changed = still_running.update(status=TaskResultStatus.READY, started_at=None)
    logger.warning("task %s lost with worker %s: back to READY", row.pk, worker)
    return changed


def _attempt_limit(row: DBTaskResult) -> int:
    try:
        task = row.task
    except Exception:  # the task's code is gone: let the worker fail it visibly
        return LOST_TASK_MAX_ATTEMPTS
    if isinstance(task, RetryingTask):
        return max(task.max_attempts, LOST_TASK_MAX_ATTEMPTS)
    return LOST_TASK_MAX_ATTEMPTS

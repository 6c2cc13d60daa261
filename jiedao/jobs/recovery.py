"""Worker heartbeats, and putting back tasks whose worker died while running them.

The database backend marks a task RUNNING when a worker claims it and nothing ever clears that if
the worker is killed. Every ``run_worker`` process writes a heartbeat; a RUNNING task whose
worker has stopped, or has not beaten for ``stale_after``, is put back to READY, so a restart
loses nothing. A task that keeps killing its worker is not retried for ever: once it has used
its attempts (a ``@job``'s ``max_attempts``, or ``LOST_TASK_MAX_ATTEMPTS`` for a plain task) it
is marked FAILED with :class:`WorkerLost`.

Heartbeats are stamped and judged with the database's clock (``Now()``), so workers on hosts
whose clocks drift apart still agree on who is alive.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q, QuerySet
from django.db.models.functions import Now
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from jiedao.jobs.base import RetryingTask
from jiedao.jobs.models import WorkerHeartbeat

logger = logging.getLogger("jiedao.jobs")

# A plain task (not a @job) has no max_attempts: lost with its worker, it is put back this many
# attempts at most. (It is still never retried after it raised.)
LOST_TASK_MAX_ATTEMPTS = 3


class WorkerLost(Exception):
    """The worker running the task stopped heartbeating before the task finished."""


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "JIEDAO_WORKER_STALE_SECONDS", 90))


def beat(worker_id: str, kind: str = WorkerHeartbeat.Kind.WORKER) -> None:
    seen = WorkerHeartbeat.objects.filter(worker_id=worker_id).update(
        last_seen_at=Now(), stopped_at=None
    )
    if not seen:  # started_at and last_seen_at: the database's default, Now()
        WorkerHeartbeat.objects.create(
            worker_id=worker_id, kind=kind, hostname=socket.gethostname()[:255], pid=os.getpid()
        )


def mark_stopped(worker_id: str) -> None:
    """Best effort on the way out: if the database is gone the heartbeat simply goes stale."""
    try:
        WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped_at=Now())
    except DatabaseError:
        logger.warning("could not mark worker %s stopped", worker_id)


def alive(stale: timedelta | None = None) -> Q:
    """Heartbeat rows of live workers: not stopped, seen within ``stale`` by the database's clock."""
    return Q(stopped_at__isnull=True, last_seen_at__gte=Now() - (stale or stale_after()))


def live_worker_ids(stale: timedelta | None = None) -> set[str]:
    rows = WorkerHeartbeat.objects.filter(alive(stale))
    return set(rows.values_list("worker_id", flat=True))


def still_claimed(row: DBTaskResult) -> QuerySet[DBTaskResult]:
    """The row, only while it is RUNNING under the very claim ``row`` was read with.

    Each claim appends the worker's id to ``worker_ids``, so an unchanged list means nobody has
    put the row back or claimed it since.
    """
    return DBTaskResult.objects.filter(
        pk=row.pk, status=TaskResultStatus.RUNNING, worker_ids=row.worker_ids
    )


def recover_stale_tasks(stale: timedelta | None = None) -> int:
    """Put RUNNING tasks of dead workers back to READY (or FAILED when out of attempts)."""
    stale = stale or stale_after()
    # Tasks first, live workers second: a worker beats before it claims, so whoever claimed one
    # of these tasks has a heartbeat row by the time the live set is read. A task is only judged
    # once it has run for longer than a heartbeat may be late, which covers a claim by a worker
    # with no heartbeat row at all.
    candidates = list(DBTaskResult.objects.running().filter(started_at__lt=Now() - stale))
    if not candidates:
        return 0
    live = live_worker_ids(stale)
    recovered = 0
    for row in candidates:
        if row.worker_ids and row.worker_ids[-1] in live:
            continue
        recovered += _recover(row)
    return recovered


def _recover(row: DBTaskResult) -> int:
    worker = row.worker_ids[-1] if row.worker_ids else "?"
    attempt = len(row.worker_ids)
    if attempt >= _attempt_limit(row):
        message = f"WorkerLost: worker {worker} stopped while running attempt {attempt}\n"
        changed = still_claimed(row).update(
            status=TaskResultStatus.FAILED,
            finished_at=Now(),
            exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
            traceback=message,
        )
        logger.warning("task %s lost with worker %s, out of attempts: FAILED", row.pk, worker)
        return changed
    changed = still_claimed(row).update(status=TaskResultStatus.READY, started_at=None)
    logger.warning("task %s lost with worker %s: back to READY", row.pk, worker)
    return changed


def _attempt_limit(row: DBTaskResult) -> int:
    """A @job's own ``max_attempts`` (lost and failed attempts count alike)."""
    try:
        task = row.task
    except Exception:  # the task's code is gone: let the worker fail it visibly
        return LOST_TASK_MAX_ATTEMPTS
    if isinstance(task, RetryingTask):
        return task.max_attempts
    return LOST_TASK_MAX_ATTEMPTS

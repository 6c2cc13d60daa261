"""Retries on the database backend: a failed attempt of a ``@job`` goes back to READY.

The worker (``jiedao.jobs.worker.JobWorker``) records a failed attempt and decides its retry in
one UPDATE: with attempts left the row becomes READY with ``run_after`` set to the backoff, and
keeps the error (exception, traceback) until an attempt succeeds; without, it becomes FAILED.
There is no moment at which the row is FAILED with a retry still to be scheduled, so a worker
that dies right after a failed attempt loses no retry. ``worker_ids`` (one entry per attempt)
is the attempt count.
"""

from __future__ import annotations

from traceback import format_exception
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from jiedao.jobs.base import RetryingTask


def failed_attempt_fields(row: DBTaskResult, exc: BaseException) -> dict[str, Any]:
    """The columns to write for attempt ``len(row.worker_ids)`` of ``row``, which raised ``exc``."""
    fields: dict[str, Any] = {
        "exception_class_path": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "traceback": "".join(format_exception(exc)),
        "return_value": None,
    }
    attempts = len(row.worker_ids)
    task = _retrying_task(row)
    if task is not None and attempts < task.max_attempts:
        run_after = timezone.now() + task.retry_delay(attempts)
        return {**fields, "status": TaskResultStatus.READY, "run_after": run_after}
    return {**fields, "status": TaskResultStatus.FAILED, "finished_at": timezone.now()}


def _retrying_task(row: DBTaskResult) -> RetryingTask | None:
    try:
        task = row.task
    except (ImportError, SuspiciousOperation):  # the task's code is gone: nothing to retry
        return None
    return task if isinstance(task, RetryingTask) else None

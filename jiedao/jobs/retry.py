"""Retries on the database backend: a failed attempt of a ``@job`` goes back to READY.

The worker records the failure (status FAILED, exception, traceback) and then sends
``task_finished``; this receiver turns the same row back to READY with ``run_after`` set to the
backoff. The row keeps the last error until an attempt succeeds, and ``worker_ids`` (one entry
per attempt) is the attempt count. When attempts run out the row simply stays FAILED.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from django_tasks import TaskResultStatus

from jiedao.jobs.base import RetryingTask

logger = logging.getLogger("jiedao.jobs")


def requeue_failed_attempt(sender: Any, task_result: Any, **kwargs: Any) -> None:
    # A receiver that raises would take the worker down with it: log and leave the row FAILED.
    try:
        _requeue(task_result)
    except Exception:
        logger.exception("could not schedule a retry of task %s", task_result.id)


def _requeue(task_result: Any) -> None:
    task = task_result.task
    if task_result.status != TaskResultStatus.FAILED or not isinstance(task, RetryingTask):
        return
    db_result = getattr(task_result, "db_result", None)
    if db_result is None:  # RQ retries natively (jiedao.jobs.rq); the immediate backend never does
        return
    attempts = len(db_result.worker_ids)
    if attempts >= task.max_attempts:
        logger.warning("task %s failed for good after %s attempts", task_result.id, attempts)
        return
    run_after = timezone.now() + task.retry_delay(attempts)
    type(db_result).objects.filter(pk=db_result.pk, status=TaskResultStatus.FAILED).update(
        status=TaskResultStatus.READY, run_after=run_after, finished_at=None
    )
    logger.info("task %s attempt %s failed; retry at %s", task_result.id, attempts, run_after)

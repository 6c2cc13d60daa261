"""Module-level tasks for the jobs tests (the task backends only accept module-level functions)."""

from __future__ import annotations

from django_tasks import TaskContext, TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from jiedao.jobs.base import job


class Boom(Exception):
    pass


@job(max_attempts=3, backoff_seconds=0)
def always_fails() -> None:
    raise Boom("always")


@job(max_attempts=3, backoff_seconds=30, takes_context=True)
def fails_first_time(context: TaskContext) -> int:
    if context.attempt < 2:
        raise Boom(f"attempt {context.attempt}")
    return context.attempt


@job(max_attempts=1)
def succeeds(value: int = 1) -> int:
    return value * 2


@job(max_attempts=3)
def doubles(value: int = 1) -> int:
    return value * 2


@task()
def plain_succeeds() -> str:
    return "plain"


@job(max_attempts=3, takes_context=True)
def outlived_by_recovery(context: TaskContext, reclaimed: bool, fail: bool) -> str:
    """Acts out recovery while this attempt still runs: its row goes back to READY or, with
    ``reclaimed``, to a second worker that claims it."""
    row = DBTaskResult.objects.filter(id=context.task_result.id)
    if reclaimed:
        row.update(worker_ids=[*context.task_result.worker_ids, "second-worker"])
    else:
        row.update(status=TaskResultStatus.READY, started_at=None)
    if fail:
        raise Boom("late failure")
    return "late success"


@task()
def plain_fails() -> None:
    raise Boom("plain")


@job(max_attempts=2)
def sleeps(seconds: float) -> float:
    """For trying worker death by hand: enqueue, kill -9 the worker, start another."""
    import time

    time.sleep(seconds)
    return seconds

"""Module-level tasks for the jobs tests (the task backends only accept module-level functions)."""

from __future__ import annotations

from django_tasks import TaskContext, task

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


@task()
def plain_fails() -> None:
    raise Boom("plain")


@job(max_attempts=2)
def sleeps(seconds: float) -> float:
    """For trying worker death by hand: enqueue, kill -9 the worker, start another."""
    import time

    time.sleep(seconds)
    return seconds

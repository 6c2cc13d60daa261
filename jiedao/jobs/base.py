"""``@job``: a Django task that is retried with backoff; ``@periodic``: a job run every interval.

Neither task backend retries or schedules by itself. A job's failed attempt goes back to the
queue (``jiedao.jobs.retry`` for the database backend, RQ's own ``Retry`` for RQ) until
``max_attempts`` is used up; then its result stays FAILED and shows in the admin. Periodic jobs
live in a registry filled at import time (each app's ``tasks`` module is imported when the app
registry is ready) and the scheduler of ``manage.py run_worker`` enqueues them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import ngettext
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME, task
from django_tasks.base import DEFAULT_TASK_PRIORITY, Task

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryingTask(Task):
    """A task that knows how often it may be attempted and how long to wait in between."""

    max_attempts: int = 1
    backoff_seconds: float = 30.0

    def retry_delay(self, failed_attempts: int) -> timedelta:
        """Exponential backoff: base, 2 × base, 4 × base … after the 1st, 2nd, 3rd failure."""
        return timedelta(seconds=self.backoff_seconds * 2 ** max(failed_attempts - 1, 0))

    def retry_intervals(self) -> list[int]:
        """The same delays as whole seconds, for RQ's ``Retry(interval=[...])``."""
        return [int(self.retry_delay(n).total_seconds()) for n in range(1, self.max_attempts)]


def job(
    function: Callable[..., Any] | None = None,
    *,
    max_attempts: int = 3,
    backoff_seconds: float = 30.0,
    priority: int = DEFAULT_TASK_PRIORITY,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    takes_context: bool = False,
) -> Any:
    """``django_tasks.task`` plus retries: ``@job`` or ``@job(max_attempts=5, backoff_seconds=60)``.

    A failed attempt is retried after ``backoff_seconds``, doubling each time.
    """
    if max_attempts < 1:
        raise ImproperlyConfigured("max_attempts must be at least 1")

    def wrapper(func: Callable[..., Any]) -> RetryingTask:
        plain = task(  # type: ignore[call-overload]  # takes_context is not a literal here
            priority=priority, queue_name=queue_name, backend=backend, takes_context=takes_context
        )(func)
        values = {field.name: getattr(plain, field.name) for field in fields(plain)}
        return RetryingTask(**values, max_attempts=max_attempts, backoff_seconds=backoff_seconds)

    return wrapper(function) if function is not None else wrapper


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    task: Task

    @property
    def task_path(self) -> str:
        return self.task.module_path

    @property
    def every_label(self) -> str:
        seconds = int(self.every.total_seconds())
        if seconds % 86400 == 0:
            n = seconds // 86400
            return ngettext("every %(n)d day", "every %(n)d days", n) % {"n": n}
        if seconds % 3600 == 0:
            n = seconds // 3600
            return ngettext("every %(n)d hour", "every %(n)d hours", n) % {"n": n}
        n = seconds // 60
        return ngettext("every %(n)d minute", "every %(n)d minutes", n) % {"n": n}


PERIODIC_JOBS: dict[str, PeriodicJob] = {}


def periodic(*, every: timedelta, name: str = "") -> Callable[[Any], Task]:
    """Register a job (or a plain function, made a ``@job``) to run once per ``every``.

    Stack it above ``@job`` to choose retries: ``@periodic(every=...)`` then ``@job(...)``.
    Jobs take no arguments: a slot is a point in time, not a parameter.
    """
    if every < timedelta(minutes=1):
        raise ImproperlyConfigured("periodic jobs run at most once a minute")

    def register(target: Any) -> Task:
        found = target if isinstance(target, Task) else job(target)
        job_name = name or found.module_path
        existing = PERIODIC_JOBS.get(job_name)
        if existing and existing.task.module_path != found.module_path:
            raise ImproperlyConfigured(f"two periodic jobs are called {job_name!r}")
        PERIODIC_JOBS[job_name] = PeriodicJob(job_name, every, found)
        return found

    return register


def periodic_jobs() -> list[PeriodicJob]:
    return sorted(PERIODIC_JOBS.values(), key=lambda item: item.name)

"""What administrators see of the background jobs: periodic jobs, their last run, failures."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count
from django.utils import timezone
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, TaskResultStatus, task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from jiedao.jobs.base import PeriodicJob, periodic_jobs
from jiedao.jobs.models import PeriodicRun, WorkerHeartbeat
from jiedao.jobs.recovery import alive
from jiedao.jobs.scheduler import next_slot_start

logger = logging.getLogger("jiedao.jobs")


def uses_database_backend() -> bool:
    return isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], DatabaseBackend)


def result_statuses(result_ids: Iterable[str]) -> dict[str, str]:
    """Task status by result id; one query on the database backend."""
    ids = [result_id for result_id in result_ids if result_id]
    if not ids:
        return {}
    if uses_database_backend():
        rows = DBTaskResult.objects.filter(id__in=ids).values_list("id", "status")
        return {str(result_id): status for result_id, status in rows}
    backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    statuses: dict[str, str] = {}
    for result_id in ids:
        try:
            statuses[result_id] = backend.get_result(result_id).status
        except Exception:  # expired from Redis, or Redis unreachable: show as unknown
            logger.debug("no result for %s", result_id)
    return statuses


def status_label(status: str | None) -> str:
    return str(TaskResultStatus(status).label) if status else "—"


def failed_counts() -> dict[str, int]:
    """FAILED task results by task path (database backend only; RQ has its own registry)."""
    if not uses_database_backend():
        return {}
    rows = DBTaskResult.objects.failed().order_by().values("task_path").annotate(n=Count("id"))
    return {row["task_path"]: row["n"] for row in rows}


@dataclass(frozen=True)
class PeriodicJobRow:
    job: PeriodicJob
    last_run: PeriodicRun | None
    last_status: str
    next_due: datetime
    failed: int | None


def periodic_overview(now: datetime | None = None) -> list[PeriodicJobRow]:
    now = now or timezone.now()
    jobs = periodic_jobs()
    last_runs = {}
    for periodic_job in jobs:
        last_runs[periodic_job.name] = (
            PeriodicRun.objects.filter(name=periodic_job.name).order_by("-slot_start").first()
        )
    statuses = result_statuses(run.task_result_id for run in last_runs.values() if run)
    failed = failed_counts() if uses_database_backend() else None
    rows = []
    for periodic_job in jobs:
        run = last_runs[periodic_job.name]
        rows.append(
            PeriodicJobRow(
                job=periodic_job,
                last_run=run,
                last_status=status_label(statuses.get(run.task_result_id)) if run else "—",
                next_due=next_slot_start(now, periodic_job.every),
                failed=failed.get(periodic_job.task_path, 0) if failed is not None else None,
            )
        )
    return rows


def live_workers() -> list[WorkerHeartbeat]:
    return list(WorkerHeartbeat.objects.filter(alive()))

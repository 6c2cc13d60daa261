"""The jobs app's own periodic job: keep the bookkeeping tables small."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management import call_command
from django.db.models.functions import Now
from django.utils import timezone
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks_db.backend import DatabaseBackend

from jiedao.jobs.base import job, periodic
from jiedao.jobs.models import PeriodicRun, WorkerHeartbeat


@periodic(every=timedelta(hours=6), name="jobs.heartbeat_cleanup")
@job(max_attempts=3, backoff_seconds=60)
def heartbeat_cleanup() -> dict[str, int]:
    """Prune finished task results (django-tasks-db's own prune command), heartbeats of workers
    gone for a week and periodic-run rows older than the failed-result retention."""
    result_days = getattr(settings, "JIEDAO_TASK_RESULT_DAYS", 14)
    failed_days = getattr(settings, "JIEDAO_FAILED_TASK_RESULT_DAYS", 90)
    if isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], DatabaseBackend):
        call_command(
            "prune_db_task_results",
            queue_name="*",
            min_age_days=result_days,
            failed_min_age_days=failed_days,
            verbosity=0,
        )
    gone = WorkerHeartbeat.objects.filter(last_seen_at__lt=Now() - timedelta(days=7))
    workers, _ = gone.delete()
    old_runs = PeriodicRun.objects.filter(
        slot_start__lt=timezone.now() - timedelta(days=failed_days)
    )
    runs, _ = old_runs.delete()
    return {"workers": workers, "periodic_runs": runs}

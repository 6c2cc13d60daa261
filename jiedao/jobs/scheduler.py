"""The scheduler: enqueue each periodic job once per slot, whoever runs it and however often.

Time is cut into slots of ``every`` counted from local midnight of 2000-01-01, so a daily job's
slot starts at midnight and an hourly one on the hour. On each tick a job whose current slot has
no ``PeriodicRun`` row gets one, and the job is enqueued. The row is unique on (job, slot start):
a second scheduler, or this one after a restart, finds the slot taken. Only the current slot is
ever claimed, so after downtime a job runs once, not once per missed slot; the row notes how many
slots it stands in for.

On the database backend the task row is written in the claim's transaction: the slot runs
exactly once. Another backend (RQ) is enqueued only once the claim has committed, so a failed
commit enqueues nothing; if the process dies or Redis fails between commit and enqueue, the
claim has no task yet and a scheduler enqueues it after ``ENQUEUE_GRACE``. That is at least once:
a crash right after the enqueue, before its id is written down, runs the slot twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.utils import timezone
from django_tasks.base import Task
from django_tasks_db.backend import DatabaseBackend

from jiedao.jobs.base import PeriodicJob, periodic_jobs
from jiedao.jobs.models import PeriodicRun

logger = logging.getLogger("jiedao.jobs")

# A claim whose enqueue has not been written down this long after the claim is enqueued again.
ENQUEUE_GRACE = timedelta(minutes=1)


def slot_epoch() -> datetime:
    return timezone.make_aware(datetime(2000, 1, 1), timezone.get_default_timezone())


def slot_start(now: datetime, every: timedelta) -> datetime:
    epoch = slot_epoch()
    return epoch + every * ((now - epoch) // every)


def next_slot_start(now: datetime, every: timedelta) -> datetime:
    return slot_start(now, every) + every


def claim_slot(periodic_job: PeriodicJob, now: datetime, worker_id: str) -> PeriodicRun | None:
    """Claim and enqueue the current slot; ``None`` when another scheduler already has it."""
    start = slot_start(now, periodic_job.every)
    runs = PeriodicRun.objects.filter(name=periodic_job.name)
    taken = runs.filter(slot_start=start).first()
    if taken is not None:  # the common case, without provoking an IntegrityError
        return enqueue_unfinished_claim(taken, periodic_job, worker_id)
    previous = runs.filter(slot_start__lt=start).order_by("-slot_start").first()
    missed = (start - previous.slot_start) // periodic_job.every - 1 if previous else 0
    try:
        with transaction.atomic():
            run = PeriodicRun.objects.create(
                name=periodic_job.name, slot_start=start, claimed_by=worker_id, missed_slots=missed
            )
            if enqueues_to_database(periodic_job.task):
                enqueue(run, periodic_job)  # commits, or rolls back, with the claim
            else:
                transaction.on_commit(lambda: enqueue(run, periodic_job))
    except IntegrityError:
        return None  # lost the race to a scheduler that checked at the same moment
    if missed:
        logger.info("%s: caught up once for %s missed slot(s)", periodic_job.name, missed)
    return run


def enqueues_to_database(task: Task) -> bool:
    return isinstance(task.get_backend(), DatabaseBackend)


def enqueue(run: PeriodicRun, periodic_job: PeriodicJob) -> None:
    result = periodic_job.task.enqueue()
    run.task_result_id = str(result.id)
    PeriodicRun.objects.filter(pk=run.pk).update(task_result_id=run.task_result_id)


def enqueue_unfinished_claim(
    run: PeriodicRun, periodic_job: PeriodicJob, worker_id: str
) -> PeriodicRun | None:
    """Enqueue a claimed slot whose enqueue after commit never happened (RQ down, a crash)."""
    if run.task_result_id:
        return None
    retaken = PeriodicRun.objects.filter(
        pk=run.pk, task_result_id="", claimed_at__lt=Now() - ENQUEUE_GRACE
    ).update(claimed_at=Now(), claimed_by=worker_id)
    if not retaken:
        return None  # still within the grace, or another scheduler just retook it
    logger.warning(
        "%s: slot %s was claimed but never enqueued; enqueuing", run.name, run.slot_start
    )
    run.claimed_by = worker_id
    enqueue(run, periodic_job)
    return run


class Scheduler:
    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id

    def tick(self, now: datetime | None = None) -> list[PeriodicRun]:
        """Enqueue every periodic job whose current slot is still free."""
        now = now or timezone.now()
        claimed = []
        for periodic_job in periodic_jobs():
            try:
                run = claim_slot(periodic_job, now, self.worker_id)
            except Exception:
                # One broken job (or a queue that is down) must not stop the others.
                logger.exception("could not schedule %s", periodic_job.name)
                continue
            if run is not None:
                claimed.append(run)
        return claimed

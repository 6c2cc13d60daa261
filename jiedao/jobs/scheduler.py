"""The scheduler: enqueue each periodic job once per slot, whoever runs it and however often.

Time is cut into slots of ``every`` counted from local midnight of 2000-01-01, so a daily job's
slot starts at midnight and an hourly one on the hour. On each tick a job whose current slot has
no ``PeriodicRun`` row gets one, and is enqueued in the same transaction. The row is unique on
(job, slot start): a second scheduler, or this one after a restart, finds the slot taken. Only
the current slot is ever claimed, so after downtime a job runs once, not once per missed slot;
the row notes how many slots it stands in for.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from jiedao.jobs.base import PeriodicJob, periodic_jobs
from jiedao.jobs.models import PeriodicRun

logger = logging.getLogger("jiedao.jobs")


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
    if runs.filter(slot_start=start).exists():
        return None  # the common case, without provoking an IntegrityError
    previous = runs.filter(slot_start__lt=start).order_by("-slot_start").first()
    missed = (start - previous.slot_start) // periodic_job.every - 1 if previous else 0
    try:
        with transaction.atomic():
            run = PeriodicRun.objects.create(
                name=periodic_job.name, slot_start=start, claimed_by=worker_id, missed_slots=missed
            )
            result = periodic_job.task.enqueue()
            run.task_result_id = str(result.id)
            run.save(update_fields=["task_result_id"])
    except IntegrityError:
        return None  # lost the race to a scheduler that checked at the same moment
    if missed:
        logger.info("%s: caught up once for %s missed slot(s)", periodic_job.name, missed)
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

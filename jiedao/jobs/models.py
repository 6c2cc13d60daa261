"""What workers and the scheduler write down so that restarts and second copies are harmless."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """One row per worker or scheduler process, touched every few seconds while it lives.

    Its times come from the database's clock (``Now()``), never a host's: liveness is judged
    by comparing them with the database's clock too, so hosts whose clocks drift agree.
    """

    class Kind(models.TextChoices):
        WORKER = "worker", _("Worker and scheduler")
        SCHEDULER = "scheduler", _("Scheduler only")

    worker_id = models.CharField(_("worker id"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.WORKER)
    hostname = models.CharField(_("host"), max_length=255, blank=True)
    pid = models.PositiveIntegerField(_("process id"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), db_default=Now())
    last_seen_at = models.DateTimeField(_("last seen at"), db_default=Now(), db_index=True)
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)

    class Meta:
        verbose_name = _("worker")
        verbose_name_plural = _("workers")
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return self.worker_id


class PeriodicRun(models.Model):
    """The claim on one slot of one periodic job. The unique pair (name, slot start) is what
    makes a second scheduler, or the same one after a restart, skip a slot already taken."""

    name = models.CharField(_("job"), max_length=200)
    slot_start = models.DateTimeField(_("slot start"))
    claimed_at = models.DateTimeField(_("claimed at"), db_default=Now())
    claimed_by = models.CharField(_("claimed by"), max_length=64)
    # Slots that passed with no scheduler running; this one run stands in for all of them.
    missed_slots = models.PositiveIntegerField(_("missed slots"), default=0)
    task_result_id = models.CharField(_("task result"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("periodic job run")
        verbose_name_plural = _("periodic job runs")
        ordering = ["-slot_start", "name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "slot_start"], name="jobs_one_run_per_slot")
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.slot_start:%Y-%m-%d %H:%M}"

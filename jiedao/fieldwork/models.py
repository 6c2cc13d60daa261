"""Grid workers' field work: patrols (巡查) with their GPS track and findings, and the ledger that
makes a form sent twice over a flaky network count once.

``distance_m``, ``point_count`` (fixes used) and ``flagged_count`` (fixes left out) are recomputed
from the whole track by ``services.record_track`` after every upload (see ``track.assess``).

A patrol's ``territory_code`` is its grid's code, so the territory scope of a supervisor covers
exactly the patrols of their territory. Distance and point count are kept on the patrol because
the track is long and the attendance summary reads many patrols at once."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.cases.models import Case
from jiedao.core.scopes import ScopedModel
from jiedao.territory.models import Grid


class Patrol(ScopedModel):
    """One round of a grid worker through their grid, from start to end."""

    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="patrols"
    )
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="patrols")
    started_at = models.DateTimeField(_("started at"), default=timezone.now, db_index=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    distance_m = models.PositiveIntegerField(_("distance (m)"), default=0)
    point_count = models.PositiveIntegerField(_("track points"), default=0)
    flagged_count = models.PositiveIntegerField(_("flagged points"), default=0)

    class Meta(ScopedModel.Meta):
        verbose_name = _("patrol")
        verbose_name_plural = _("patrols")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["worker", "started_at"], name="patrol_worker_started")]
        constraints = [
            # A worker walks one patrol at a time.
            models.UniqueConstraint(
                fields=["worker"], condition=Q(ended_at__isnull=True), name="one_open_patrol"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="patrol_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grid_id} {self.started_at:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("fieldwork:patrol_detail", args=[self.pk])

    @property
    def km(self) -> float:
        return round(self.distance_m / 1000, 2)

    @property
    def hours(self) -> float:
        """From start to end (one under way: until now), in hours with one decimal."""
        end = self.ended_at or timezone.now()
        return round(max(0.0, (end - self.started_at).total_seconds() / 3600), 1)

    def save(self, *args, **kwargs):
        self.territory_code = self.grid.code
        super().save(*args, **kwargs)


class TrackPoint(ScopedModel):
    """A GPS fix of a patrol, in WGS-84. A fix sent twice (same patrol, same time) is kept once;
    ``flag`` marks fixes left out of the distance (too inaccurate, an impossible jump)."""

    class Flag(models.TextChoices):
        NONE = "", _("Used")
        INACCURATE = "inaccurate", _("Too inaccurate")
        JUMP = "jump", _("Impossible jump")

    patrol = models.ForeignKey(Patrol, on_delete=models.CASCADE, related_name="points")
    recorded_at = models.DateTimeField(_("recorded at"))
    lng = models.FloatField(_("longitude"))
    lat = models.FloatField(_("latitude"))
    accuracy_m = models.FloatField(_("accuracy (m)"), null=True, blank=True)
    flag = models.CharField(_("flag"), max_length=16, choices=Flag.choices, blank=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("track point")
        verbose_name_plural = _("track points")
        ordering = ["patrol", "recorded_at"]
        constraints = [
            models.UniqueConstraint(fields=["patrol", "recorded_at"], name="unique_track_point")
        ]

    def __str__(self) -> str:
        return f"{self.lng:.6f},{self.lat:.6f} @ {self.recorded_at:%H:%M:%S}"


class PatrolFinding(ScopedModel):
    """A problem found on patrol, reported as a case (channel: grid-worker patrol)."""

    patrol = models.ForeignKey(Patrol, on_delete=models.CASCADE, related_name="findings")
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="patrol_finding")

    class Meta(ScopedModel.Meta):
        verbose_name = _("patrol finding")
        verbose_name_plural = _("patrol findings")
        ordering = ["patrol", "pk"]

    def __str__(self) -> str:
        return str(self.case)

    def save(self, *args, **kwargs):
        self.territory_code = self.patrol.territory_code
        super().save(*args, **kwargs)


class SentForm(models.Model):
    """A form the phone has sent, by the key the page gave it. The phone resends a form until it
    gets an answer; the second arrival finds this row and returns the first result."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    kind = models.CharField(max_length=32)
    object_id = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="unique_sent_form")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"

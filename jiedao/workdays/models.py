"""The working-day calendar (domain.md §3): days a district or a street has entered.

A calendar has two layers over the ``chinese-calendar`` package: the district's entries, then a
street's own entries, each overriding what lies below it for that date. A row is one entered day.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from jiedao.core.scopes import Scope, ScopedModel
from jiedao.territory.models import District, Street


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Day off")
    WORKDAY = "workday", _("Working day")


class CalendarDay(ScopedModel):
    """One entered day: a statutory holiday, an adjusted working day (调休) or a local change.

    ``territory_code`` is the district's code for district-wide entries and the street's code for
    a street's own overrides."""

    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="calendar_days")
    street = models.ForeignKey(
        Street, on_delete=models.PROTECT, related_name="calendar_days", null=True, blank=True
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=16, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=60, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("entered by"),
    )
    entered_at = models.DateTimeField(_("entered at"), auto_now=True)

    class Meta(ScopedModel.Meta):
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["territory_code", "date"]
        constraints = [
            models.UniqueConstraint(fields=["territory_code", "date"], name="unique_calendar_day")
        ]

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.get_kind_display()} {self.name}".strip()

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        # A calendar applies to everyone below its node: a grid worker reads the district's and
        # the street's entries as well as a department reads its district's.
        return scope.structure_q("territory_code")

    @property
    def is_working(self) -> bool:
        return self.kind == DayKind.WORKDAY

    @property
    def node(self) -> District | Street:
        return self.street if self.street is not None else self.district

    def save(self, *args, **kwargs):
        self.territory_code = self.node.code
        super().save(*args, **kwargs)


class CalendarGeneration(models.Model):
    """One row whose token changes with every calendar write, so each process knows when the
    calendars it holds in memory are stale (see ``calendar.py``)."""

    token = models.CharField(max_length=32)

    class Meta:
        verbose_name = _("calendar generation")

    def __str__(self) -> str:
        return self.token

"""Writes to the working-day calendars: permission first, one transaction, an audit entry per
day, and a new generation so every process drops its cached calendars."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from jiedao.audit.services import audited, log_action, snapshot
from jiedao.core.scopes import unscoped
from jiedao.territory.models import District, Street
from jiedao.workdays.calendar import bump_generation
from jiedao.workdays.importer import ParsedDay, RowError, parse_file
from jiedao.workdays.models import CalendarDay, DayKind

Node = District | Street


def require_editor(actor: Any, node: Node) -> None:
    """``actor`` None is the system itself (commands, the demo generator)."""
    if actor is not None and not actor.has_perm("workdays.change_calendar", node):
        raise PermissionDenied(
            _("You may not change this calendar: it is outside your role or territory.")
        )


def _placement(node: Node) -> dict[str, Any]:
    if isinstance(node, Street):
        return {"district": node.district, "street": node}
    return {"district": node, "street": None}


def _existing(node: Node, day: date) -> CalendarDay | None:
    with unscoped():
        return CalendarDay.objects.filter(territory_code=node.code, date=day).first()


@transaction.atomic
def add_day(actor: Any, node: Node, day: date, kind: str, name: str = "") -> CalendarDay:
    """Enter (or change) one day of a district's or a street's calendar."""
    require_editor(actor, node)
    if kind not in DayKind.values:
        raise ValidationError(_("Unknown kind of day."), code="kind")
    entry = _existing(node, day) or CalendarDay(date=day, **_placement(node))
    entry.kind, entry.name = kind, name.strip()
    entry.entered_by = actor if getattr(actor, "pk", None) else None
    with audited(actor, "workdays.day", entry), unscoped():
        entry.full_clean(validate_constraints=False)
        entry.save()
    bump_generation()
    return entry


@transaction.atomic
def remove_day(actor: Any, entry: CalendarDay) -> None:
    """Remove an entered day: the date goes back to the layer below (the district's entry, the
    package, or Monday–Friday)."""
    require_editor(actor, entry.node)
    before = snapshot(entry)
    log_action(actor, "workdays.day.delete", entry, before=before)
    with unscoped():
        CalendarDay.all_objects.filter(pk=entry.pk).delete()
    bump_generation()


@dataclass
class ImportReport:
    """What an import would do (dry run) or did (confirmed)."""

    errors: list[RowError] = field(default_factory=list)
    create: list[ParsedDay] = field(default_factory=list)
    update: list[ParsedDay] = field(default_factory=list)
    unchanged: list[ParsedDay] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def years(self) -> list[int]:
        return sorted({d.day.year for d in self.create + self.update + self.unchanged})


def import_year(
    actor: Any, node: Node, file: IO[bytes] | bytes, *, filename: str = "", confirm: bool = False
) -> ImportReport:
    """Import days from CSV or XLSX (columns date, kind, name). Without ``confirm`` nothing is
    written; with it, the whole file is written in one transaction, or nothing if any row is
    bad. Entered days already equal to the file's are left alone, so a re-import changes nothing."""
    require_editor(actor, node)
    content = file if isinstance(file, bytes) else file.read()
    parsed = parse_file(content, filename or getattr(file, "name", "") or "")
    report = ImportReport(errors=parsed.errors)
    if parsed.errors:
        return report
    with unscoped():
        stored = {
            row.date: row
            for row in CalendarDay.objects.filter(
                territory_code=node.code, date__in=[d.day for d in parsed.days]
            )
        }
    for day in parsed.days:
        row = stored.get(day.day)
        if row is None:
            report.create.append(day)
        elif (row.kind, row.name) != (day.kind, day.name):
            report.update.append(day)
        else:
            report.unchanged.append(day)
    if confirm:
        _apply(actor, node, report)
    return report


@transaction.atomic
def _apply(actor: Any, node: Node, report: ImportReport) -> None:
    for day in report.create + report.update:
        add_day(actor, node, day.day, day.kind, day.name)
    note = _("%(created)s created, %(updated)s changed, %(unchanged)s unchanged") % {
        "created": len(report.create),
        "updated": len(report.update),
        "unchanged": len(report.unchanged),
    }
    log_action(actor, "workdays.import", node, note=note, territory_code=node.code)
    report.applied = True

"""The working-day calendar over the API: a year's days, and a deadline."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from ninja import Router, Schema

from jiedao.core.api import Error
from jiedao.workdays import selectors
from jiedao.workdays.calendar import (
    SHANGHAI,
    add_hours,
    add_working_days,
    calendar_for_code,
    fallback_note,
    local_date,
)

router = Router(tags=["workdays"])
ERRORS: dict[int | tuple[int, ...], Any] = {(401, 403, 404, 422): Error}
MAX_DAYS = 366


class DayOut(Schema):
    date: date
    working: bool
    name: str
    source: str  # package, district, street, weekday or fallback


class YearOut(Schema):
    code: str
    name: str
    year: int
    source: str  # package, weekday (entered days only) or fallback
    fallback: bool
    note: str
    days: list[DayOut]


class DeadlineOut(Schema):
    code: str
    start: datetime
    due_at: datetime
    due_date: date | None
    basis_note: str
    fallback_years: list[int]


def _require_staff(request) -> None:
    if not request.user.has_perm("workdays.view"):
        raise PermissionDenied(_("Only staff may read the working-day calendar."))


def _node(request, calendar: str) -> Any:
    _require_staff(request)
    node = (
        selectors.node_by_code(request.user, calendar)
        if calendar
        else selectors.default_node(request.user)
    )
    if node is None:
        raise PermissionDenied(_("You have no calendar in your territory."))
    return node


@router.get(
    "/calendars/{code}/{year}",
    response={200: YearOut, **ERRORS},
    summary="A year's days off and working weekends",
)
def get_year(request, code: str, year: int):
    node = _node(request, code)
    if not 2000 <= year <= 2100:
        raise ValidationError(_("Choose a year between 2000 and 2100."))
    calendar = calendar_for_code(node.code)
    fallback = calendar.is_fallback_year(year)
    return {
        "code": node.code,
        "name": node.name,
        "year": year,
        "source": calendar.year_source(year),
        "fallback": fallback,
        "note": fallback_note([year]) if fallback else "",
        "days": [
            {"date": d.day, "working": d.working, "name": d.name, "source": d.source}
            for d in selectors.special_days(year, calendar)
        ],
    }


def _parse_start(value: str) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.min, tzinfo=SHANGHAI)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(
            _("start is not an ISO date or date-time: %(value)s") % {"value": value[:40]}
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


@router.get(
    "/deadline",
    response={200: DeadlineOut, **ERRORS},
    summary="When N working days (or N hours) after a moment run out",
)
def get_deadline(
    request, start: str, days: int | None = None, hours: float | None = None, calendar: str = ""
):
    """``days``: working days after the day of ``start`` (not counted), ending 24:00 Beijing time;
    ``hours``: on the clock. ``calendar``: a street or district code (default: your street's)."""
    node = _node(request, calendar)
    moment = _parse_start(start)
    if (days is None) == (hours is None):
        raise ValidationError(_("Give either days or hours."))
    if days is not None and not 0 <= days <= MAX_DAYS:
        raise ValidationError(_("days must be between 0 and 366."))
    if hours is not None and not 0 <= hours <= 24 * MAX_DAYS:
        raise ValidationError(_("hours must be between 0 and 8784."))
    work_calendar = calendar_for_code(node.code)
    if hours is not None:
        due_at = add_hours(moment, hours).astimezone(SHANGHAI)
        note = _("%(hours)s hours on the clock after %(start)s.") % {
            "hours": hours,
            "start": moment.isoformat(),
        }
        return {
            "code": node.code,
            "start": moment,
            "due_at": due_at,
            "due_date": local_date(due_at),
            "basis_note": note,
            "fallback_years": [],
        }
    deadline = add_working_days(moment, days or 0, work_calendar)
    return {
        "code": node.code,
        "start": moment,
        "due_at": deadline.due_at,
        "due_date": deadline.due_date,
        "basis_note": deadline.basis_note,
        "fallback_years": list(deadline.fallback_years),
    }

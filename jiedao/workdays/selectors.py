"""Reads of the working-day calendars, always inside the actor's scope."""

from __future__ import annotations

import calendar as month_calendar
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from jiedao.core.selectors import visible
from jiedao.territory.models import District, Street
from jiedao.workdays.calendar import DayInfo, WorkCalendar, calendar_for_code, day_info
from jiedao.workdays.models import CalendarDay


def entered_days(actor: Any, code: str, year: int | None = None) -> QuerySet[CalendarDay]:
    """The days entered on one calendar (a district's or a street's own), in scope."""
    rows = visible(CalendarDay, actor).filter(territory_code=code).select_related("entered_by")
    return rows.filter(date__year=year) if year else rows


def calendar_nodes(actor: Any) -> list[District | Street]:
    """The calendars the actor may read: their districts and their streets."""
    districts = list(visible(District, actor).order_by("code"))
    streets = list(visible(Street, actor).select_related("district").order_by("code"))
    return [*districts, *streets]


def node_by_code(actor: Any, code: str) -> District | Street:
    street = visible(Street, actor).filter(code=code).select_related("district").first()
    if street is not None:
        return street
    district = visible(District, actor).filter(code=code).first()
    if district is not None:
        return district
    raise Http404("no such calendar in your territory")


def default_node(actor: Any) -> District | Street | None:
    """The calendar a user starts on: the street of their first grant, else its district."""
    for grant in getattr(actor, "active_grants", []):
        code = grant.node_code
        if not code:
            continue
        street = visible(Street, actor).filter(code=code[:9] + "000").first()
        if street is not None:
            return street
        district = visible(District, actor).filter(code=code[:6] + "000000").first()
        if district is not None:
            return district
    nodes = calendar_nodes(actor)
    return nodes[0] if nodes else None


def calendar_of(actor: Any, code: str) -> tuple[District | Street, WorkCalendar]:
    node = node_by_code(actor, code)
    return node, calendar_for_code(node.code)


@dataclass(frozen=True)
class Month:
    number: int
    first: date
    weeks: list[list[DayInfo | None]]


def year_grid(year: int, calendar: WorkCalendar) -> list[Month]:
    """Twelve months of weeks (Monday first); days outside the month are None."""
    months = []
    for number in range(1, 13):
        weeks = [
            [day_info(date(year, number, d), calendar) if d else None for d in week]
            for week in month_calendar.Calendar().monthdayscalendar(year, number)
        ]
        months.append(Month(number, date(year, number, 1), weeks))
    return months


def special_days(year: int, calendar: WorkCalendar) -> list[DayInfo]:
    """Days that differ from Monday–Friday or were entered."""
    return [
        day
        for month in year_grid(year, calendar)
        for week in month.weeks
        for day in week
        if day and day.special
    ]

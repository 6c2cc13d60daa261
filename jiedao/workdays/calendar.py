"""Working days on the Chinese calendar (domain.md §3), as pure functions over a snapshot.

Layers, highest first: a street's entered days, the district's entered days, the
``chinese-calendar`` package (years it ships), and Monday–Friday for any other year. A year with
no entered day that the package does not know is a *fallback year*: results say so.

``calendar_for_code`` builds a snapshot with one query for its entries and keeps it per process;
every write changes ``CalendarGeneration.token`` so each process rebuilds on its next call.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

SHANGHAI = ZoneInfo("Asia/Shanghai")
PACKAGE_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
# The package's English holiday names, for translation.
PACKAGE_NAMES = {
    "New Year's Day": gettext_lazy("New Year's Day"),
    "Spring Festival": gettext_lazy("Spring Festival"),
    "Tomb-sweeping Day": gettext_lazy("Tomb-sweeping Day"),
    "Labour Day": gettext_lazy("Labour Day"),
    "Dragon Boat Festival": gettext_lazy("Dragon Boat Festival"),
    "National Day": gettext_lazy("National Day"),
    "Mid-autumn Festival": gettext_lazy("Mid-autumn Festival"),
    "Anti-Fascist 70th Day": gettext_lazy("Anti-Fascist 70th Day"),
}


class Source:
    PACKAGE = "package"  # the State Council notice shipped in chinese-calendar
    DISTRICT = "district"  # entered for the whole district
    STREET = "street"  # entered by the street for itself
    WEEKDAY = "weekday"  # an ordinary day of a year that has entered days
    FALLBACK = "fallback"  # a year nobody entered and the package does not know: Mon–Fri


@dataclass(frozen=True)
class Entry:
    working: bool
    name: str
    source: str  # Source.DISTRICT or Source.STREET


@dataclass(frozen=True)
class DayInfo:
    day: date
    working: bool
    source: str
    name: str = ""

    @property
    def special(self) -> bool:
        """Differs from Monday–Friday, or was entered."""
        return self.working == (self.day.weekday() >= 5) or self.source in (
            Source.DISTRICT,
            Source.STREET,
        )


@dataclass(frozen=True)
class WorkCalendar:
    """An immutable snapshot: entered days merged (street over district) and the years they touch."""

    entries: Mapping[date, Entry] = field(default_factory=dict)
    entered_years: frozenset[int] = frozenset()
    codes: tuple[str, ...] = ()

    def year_source(self, year: int) -> str:
        if year in PACKAGE_YEARS:
            return Source.PACKAGE
        return Source.WEEKDAY if year in self.entered_years else Source.FALLBACK

    def is_fallback_year(self, year: int) -> bool:
        return self.year_source(year) == Source.FALLBACK


EMPTY = WorkCalendar()


def day_info(day: date, calendar: WorkCalendar = EMPTY) -> DayInfo:
    entry = calendar.entries.get(day)
    if entry is not None:
        return DayInfo(day, entry.working, entry.source, entry.name)
    source = calendar.year_source(day.year)
    if source == Source.PACKAGE:
        if day in chinese_calendar.workdays:
            return DayInfo(day, True, source, _package_name(chinese_calendar.workdays[day]))
        if day in chinese_calendar.holidays:
            return DayInfo(day, False, source, _package_name(chinese_calendar.holidays[day]))
    return DayInfo(day, day.weekday() < 5, source)


def _package_name(name: str) -> str:
    return str(PACKAGE_NAMES.get(name, name))


def is_working_day(day: date, calendar: WorkCalendar = EMPTY) -> bool:
    entry = calendar.entries.get(day)
    if entry is not None:
        return entry.working
    if day.year in PACKAGE_YEARS:
        if day in chinese_calendar.workdays:
            return True
        if day in chinese_calendar.holidays:
            return False
    return day.weekday() < 5


@dataclass(frozen=True)
class Deadline:
    due_at: datetime  # the instant the time runs out: 24:00 of ``due_date``, Asia/Shanghai
    basis_note: str
    fallback_years: tuple[int, ...] = ()
    due_date: date | None = None  # the last working day (for display: "by the end of …")

    @property
    def fallback_note(self) -> str:
        return fallback_note(self.fallback_years)


def local_date(moment: datetime | date) -> date:
    """The Beijing-time calendar date of a moment (a naive datetime is taken as Beijing time)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(SHANGHAI)
        return moment.date()
    return moment


def end_of_day(day: date) -> datetime:
    """24:00 of ``day`` in Beijing time, i.e. the first instant of the next day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=SHANGHAI)


def add_working_days(start: datetime | date, n: int, calendar: WorkCalendar = EMPTY) -> Deadline:
    """N working days after the day of ``start`` (which does not count), ending at 24:00 of the
    N-th. ``n`` 0 ends with the day of ``start`` itself."""
    if n < 0:
        raise ValueError("n must not be negative")
    start_day = day = local_date(start)
    counted = 0
    while counted < n:
        day += timedelta(days=1)
        if is_working_day(day, calendar):
            counted += 1
    years = _fallback_years(start_day + timedelta(days=1), day, calendar) if n else ()
    return Deadline(end_of_day(day), _basis(start_day, n, day, years), years, day)


def add_hours(start: datetime, hours: float) -> datetime:
    """Hour limits run on the clock, holidays included (domain.md §3)."""
    return start + timedelta(hours=hours)


def working_days_between(
    a: datetime | date, b: datetime | date, calendar: WorkCalendar = EMPTY
) -> int:
    """Working days after ``a`` up to and including ``b`` (negative when ``b`` is before ``a``):
    the inverse of ``add_working_days``."""
    first, last = local_date(a), local_date(b)
    if last < first:
        return -working_days_between(last, first, calendar)
    count, day = 0, first
    while day < last:
        day += timedelta(days=1)
        count += is_working_day(day, calendar)
    return count


def _fallback_years(first: date, last: date, calendar: WorkCalendar) -> tuple[int, ...]:
    return tuple(y for y in range(first.year, last.year + 1) if calendar.is_fallback_year(y))


def fallback_note(years: tuple[int, ...] | list[int]) -> str:
    if not years:
        return ""
    return _("%(years)s: no holiday calendar, counted Monday–Friday.") % {
        "years": ", ".join(str(y) for y in years)
    }


def _basis(start: date, n: int, due: date, years: tuple[int, ...]) -> str:
    note = _(
        "%(n)s working days after %(start)s (that day not counted), on the Chinese working-day "
        "calendar: due by 24:00 on %(due)s (Beijing time)."
    ) % {"n": n, "start": start.isoformat(), "due": due.isoformat()}
    return f"{note} {fallback_note(years)}".strip()


# --- Snapshots from the database, kept per process ------------------------------------------


def layer_codes(territory_code: str) -> tuple[str, ...]:
    """The calendars that apply to a place, lowest first: its district's, then its street's."""
    district = territory_code[:6] + "000000"
    street = territory_code[:9] + "000"
    if len(territory_code) < 9 or street == district:
        return (district,)
    return (district, street)


_lock = threading.Lock()
_cache: dict[tuple[str, ...], WorkCalendar] = {}
_cache_token: list[str | None] = [None]


def calendar_for_code(territory_code: str) -> WorkCalendar:
    """The calendar that applies to a place (a district, street, community or grid code).

    One small query checks the generation; the entries are read only when they changed."""
    token = current_token()
    codes = layer_codes(territory_code)
    with _lock:
        if _cache_token[0] != token:
            _cache.clear()
            _cache_token[0] = token
        cached = _cache.get(codes)
    if cached is not None:
        return cached
    built = build_calendar(codes)
    with _lock:
        if _cache_token[0] == token:
            _cache[codes] = built
    return built


def build_calendar(codes: tuple[str, ...]) -> WorkCalendar:
    from jiedao.core.scopes import unscoped
    from jiedao.workdays.models import CalendarDay

    with unscoped():
        rows = CalendarDay.objects.filter(territory_code__in=codes).values_list(
            "territory_code", "date", "kind", "name"
        )
        rank = {code: i for i, code in enumerate(codes)}
        ordered = sorted(rows, key=lambda row: rank[row[0]])  # the street's entries win
    entries: dict[date, Entry] = {}
    for code, day, kind, name in ordered:
        source = Source.STREET if rank[code] > 0 else Source.DISTRICT
        entries[day] = Entry(kind == "workday", name, source)
    return WorkCalendar(entries, frozenset(d.year for d in entries), codes)


def current_token() -> str:
    from jiedao.workdays.models import CalendarGeneration

    return CalendarGeneration.objects.filter(pk=1).values_list("token", flat=True).first() or ""


def bump_generation() -> None:
    """Call inside the writing transaction: every process drops its snapshots."""
    from jiedao.workdays.models import CalendarGeneration

    CalendarGeneration.objects.update_or_create(pk=1, defaults={"token": uuid.uuid4().hex})
    with _lock:
        _cache.clear()
        _cache_token[0] = None

"""The counting rules of domain.md §3, on the built-in, entered and fallback calendars."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jiedao.workdays.calendar import (
    EMPTY,
    SHANGHAI,
    Entry,
    Source,
    WorkCalendar,
    add_hours,
    add_working_days,
    day_info,
    is_working_day,
    working_days_between,
)

# 2027 as a street might enter it (illustrative: the real notice appears in late 2026).
ENTERED_2027 = WorkCalendar(
    entries={
        date(2027, 1, 1): Entry(False, "元旦", Source.DISTRICT),
        date(2027, 10, 1): Entry(False, "国庆节", Source.DISTRICT),
        date(2027, 10, 4): Entry(False, "国庆节", Source.DISTRICT),
        date(2027, 10, 5): Entry(False, "国庆节", Source.DISTRICT),
        date(2027, 10, 6): Entry(False, "国庆节", Source.DISTRICT),
        date(2027, 10, 7): Entry(False, "国庆节", Source.DISTRICT),
        date(2027, 10, 9): Entry(True, "国庆节调休", Source.DISTRICT),
    },
    entered_years=frozenset({2027}),
)


def at(y: int, m: int, d: int, hour: int = 10) -> datetime:
    return datetime(y, m, d, hour, tzinfo=SHANGHAI)


def test_domain_example_five_working_days_over_national_day():
    deadline = add_working_days(at(2025, 9, 30), 5, EMPTY)
    assert deadline.due_date == date(2025, 10, 14)
    assert deadline.due_at == datetime(2025, 10, 15, 0, 0, tzinfo=SHANGHAI)  # 24:00 on the 14th
    assert deadline.fallback_years == ()
    assert "2025-10-14" in deadline.basis_note and "2025-09-30" in deadline.basis_note


def test_registration_time_of_day_does_not_matter_and_utc_input_is_beijing_date():
    late = add_working_days(at(2025, 9, 30, 23), 5)
    # 2025-09-29 17:00 UTC is 2025-09-30 01:00 in Beijing: the same registration day.
    utc = add_working_days(datetime.fromisoformat("2025-09-29T17:00:00+00:00"), 5)
    assert late.due_date == utc.due_date == date(2025, 10, 14)


HOLIDAYS_2025 = [
    "2025-01-01", "2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31", "2025-02-03",
    "2025-02-04", "2025-04-04", "2025-05-01", "2025-05-02", "2025-05-05", "2025-06-02",
    "2025-10-01", "2025-10-02", "2025-10-03", "2025-10-06", "2025-10-07", "2025-10-08",
]  # fmt: skip
WORKED_WEEKENDS_2025 = ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"]
HOLIDAYS_2026 = [
    "2026-01-01", "2026-01-02", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",
    "2026-02-20", "2026-02-23", "2026-04-06", "2026-05-01", "2026-05-04", "2026-05-05",
    "2026-06-19", "2026-09-25", "2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06",
    "2026-10-07",
]  # fmt: skip
WORKED_WEEKENDS_2026 = [
    "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
]  # fmt: skip


@pytest.mark.parametrize(
    ("year", "holidays", "worked"),
    [(2025, HOLIDAYS_2025, WORKED_WEEKENDS_2025), (2026, HOLIDAYS_2026, WORKED_WEEKENDS_2026)],
)
def test_package_years_weekday_holidays_and_worked_weekends(year, holidays, worked):
    day, off_weekdays, on_weekends = date(year, 1, 1), [], []
    while day.year == year:
        working = is_working_day(day)
        if day.weekday() < 5 and not working:
            off_weekdays.append(day.isoformat())
        if day.weekday() >= 5 and working:
            on_weekends.append(day.isoformat())
        day += timedelta(days=1)
    assert off_weekdays == holidays
    assert on_weekends == worked
    assert day_info(date(year, 10, 1)).source == Source.PACKAGE
    assert day_info(date(year, 10, 1)).name  # the holiday's name


def test_unknown_year_falls_back_to_monday_to_friday_and_says_so():
    deadline = add_working_days(at(2027, 9, 30), 5)  # Thu 30 Sep 2027
    assert deadline.due_date == date(2027, 10, 7)  # Fri 1, Mon 4 … Thu 7: no National Day
    assert deadline.fallback_years == (2027,)
    assert "2027" in deadline.fallback_note and "2027" in deadline.basis_note
    assert day_info(date(2027, 10, 1)).source == Source.FALLBACK
    assert EMPTY.is_fallback_year(2027) and not EMPTY.is_fallback_year(2026)


def test_entered_2027_calendar_is_used_without_fallback_flag():
    deadline = add_working_days(at(2027, 9, 30), 5, ENTERED_2027)
    # Off Fri 1, Mon 4 – Thu 7; working Fri 8, Sat 9 (调休), Mon 11, Tue 12, Wed 13.
    assert deadline.due_date == date(2027, 10, 13)
    assert deadline.fallback_years == ()
    assert day_info(date(2027, 10, 9), ENTERED_2027) == day_info(date(2027, 10, 9), ENTERED_2027)
    assert day_info(date(2027, 10, 9), ENTERED_2027).source == Source.DISTRICT
    assert day_info(date(2027, 3, 3), ENTERED_2027).source == Source.WEEKDAY


def test_deadline_across_known_and_unknown_years_flags_only_the_unknown():
    deadline = add_working_days(at(2026, 12, 30), 5)
    assert deadline.fallback_years == (2027,)
    assert add_working_days(at(2026, 12, 1), 5).fallback_years == ()


def test_far_future_and_past_years_are_never_an_error():
    assert add_working_days(at(2300, 5, 1), 3).fallback_years == (2300,)
    assert is_working_day(date(1990, 1, 1)) is True  # Monday, fallback
    assert working_days_between(date(2099, 1, 1), date(2101, 1, 1)) > 500


def test_zero_days_ends_on_the_day_itself_and_negative_is_refused():
    assert add_working_days(at(2025, 10, 1), 0).due_date == date(2025, 10, 1)
    with pytest.raises(ValueError):
        add_working_days(at(2025, 10, 1), -1)


def test_hours_run_on_the_clock_through_holidays():
    start = at(2025, 9, 30, 22)
    assert add_hours(start, 2) == at(2025, 10, 1, 0)
    assert add_hours(start, 0.5) == start + timedelta(minutes=30)
    assert add_hours(start, 24) == at(2025, 10, 1, 22)


def test_working_days_between_examples():
    assert working_days_between(date(2025, 9, 30), date(2025, 10, 14)) == 5
    assert working_days_between(date(2025, 10, 14), date(2025, 9, 30)) == -5
    assert working_days_between(date(2025, 10, 1), date(2025, 10, 8)) == 0


CALENDARS = st.sampled_from([EMPTY, ENTERED_2027])
STARTS = st.dates(min_value=date(2003, 6, 1), max_value=date(2029, 12, 31))


@settings(max_examples=300, deadline=None)
@given(start=STARTS, n=st.integers(min_value=0, max_value=80), calendar=CALENDARS)
def test_counting_back_gives_n(start, n, calendar):
    deadline = add_working_days(start, n, calendar)
    assert deadline.due_date is not None
    assert working_days_between(start, deadline.due_date, calendar) == n


@settings(max_examples=300, deadline=None)
@given(start=STARTS, n=st.integers(min_value=1, max_value=80), calendar=CALENDARS)
def test_due_date_is_a_working_day(start, n, calendar):
    deadline = add_working_days(start, n, calendar)
    assert is_working_day(deadline.due_date, calendar)
    assert deadline.due_at == datetime.combine(
        deadline.due_date + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI
    )


@settings(max_examples=200, deadline=None)
@given(start=STARTS, n=st.integers(min_value=0, max_value=60), calendar=CALENDARS)
def test_monotone_in_n(start, n, calendar):
    assert (
        add_working_days(start, n, calendar).due_at
        < add_working_days(start, n + 1, calendar).due_at
    )


@settings(max_examples=200, deadline=None)
@given(a=STARTS, b=STARTS, calendar=CALENDARS)
def test_between_is_antisymmetric_and_additive(a, b, calendar):
    assert working_days_between(a, b, calendar) == -working_days_between(b, a, calendar)
    middle = min(a, b) + (max(a, b) - min(a, b)) / 2
    assert working_days_between(min(a, b), max(a, b), calendar) == working_days_between(
        min(a, b), middle, calendar
    ) + working_days_between(middle, max(a, b), calendar)

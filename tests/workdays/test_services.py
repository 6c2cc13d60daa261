"""Entering days, layering street over district over the package, the cache, the audit trail."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.core.exceptions import PermissionDenied

from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.workdays import services
from jiedao.workdays.calendar import (
    SHANGHAI,
    Source,
    add_working_days,
    calendar_for_code,
    day_info,
    is_working_day,
    layer_codes,
)
from jiedao.workdays.models import CalendarDay, DayKind

pytestmark = pytest.mark.django_db
START = datetime(2025, 9, 30, 9, tzinfo=SHANGHAI)


def test_layer_codes():
    assert layer_codes("110119001001001") == ("110119000000", "110119001000")
    assert layer_codes("110119001000") == ("110119000000", "110119001000")
    assert layer_codes("110119000000") == ("110119000000",)


def test_street_override_turns_a_day_off_for_that_street_only(world, street_user):
    before = calendar_for_code(world.grid_a1x.code)
    assert add_working_days(START, 5, before).due_date == date(2025, 10, 14)
    services.add_day(street_user, world.street_a, date(2025, 10, 9), DayKind.HOLIDAY, "街道停电")
    street_a = calendar_for_code(world.grid_a1x.code)
    assert not is_working_day(date(2025, 10, 9), street_a)
    assert day_info(date(2025, 10, 9), street_a).source == Source.STREET
    assert add_working_days(START, 5, street_a).due_date == date(2025, 10, 15)
    street_b = calendar_for_code(world.street_b.code)
    assert add_working_days(START, 5, street_b).due_date == date(2025, 10, 14)


def test_street_entry_wins_over_district_entry(world, street_user, district_user):
    services.add_day(district_user, world.district, date(2027, 5, 3), DayKind.HOLIDAY, "劳动节")
    services.add_day(street_user, world.street_a, date(2027, 5, 3), DayKind.WORKDAY, "值班")
    assert is_working_day(date(2027, 5, 3), calendar_for_code(world.street_a.code))
    assert not is_working_day(date(2027, 5, 3), calendar_for_code(world.street_b.code))
    assert not is_working_day(date(2027, 5, 3), calendar_for_code(world.district.code))


def test_entered_2027_replaces_the_fallback(world, district_user):
    start = datetime(2027, 9, 30, 9, tzinfo=SHANGHAI)
    fallback = add_working_days(start, 5, calendar_for_code(world.street_a.code))
    assert fallback.fallback_years == (2027,) and fallback.due_date == date(2027, 10, 7)
    for day in (1, 4, 5, 6, 7):
        services.add_day(district_user, world.district, date(2027, 10, day), "holiday", "国庆节")
    services.add_day(district_user, world.district, date(2027, 10, 9), "workday", "国庆节调休")
    entered = add_working_days(start, 5, calendar_for_code(world.street_a.code))
    assert entered.fallback_years == () and entered.due_date == date(2027, 10, 13)


def test_add_day_updates_in_place_and_is_audited(world, street_user):
    first = services.add_day(street_user, world.street_a, date(2027, 1, 1), "holiday", "元旦")
    second = services.add_day(street_user, world.street_a, date(2027, 1, 1), "workday", "值班")
    assert first.pk == second.pk and second.entered_by == street_user
    with unscoped():
        actions = list(
            AuditEntry.objects.filter(action__startswith="workdays.day")
            .order_by("seq")
            .values_list("action", flat=True)
        )
    assert actions == ["workdays.day.create", "workdays.day.update"]


def test_remove_day_returns_to_the_package(world, street_user):
    entry = services.add_day(street_user, world.street_a, date(2025, 10, 8), "workday", "值班")
    assert is_working_day(date(2025, 10, 8), calendar_for_code(world.street_a.code))
    services.remove_day(street_user, entry)
    assert not is_working_day(date(2025, 10, 8), calendar_for_code(world.street_a.code))
    with unscoped():
        assert not CalendarDay.objects.exists()
        assert AuditEntry.objects.filter(action="workdays.day.delete").count() == 1


def test_calendar_is_cached_until_a_write(world, street_user, django_assert_num_queries):
    calendar_for_code(world.street_a.code)
    with django_assert_num_queries(1):  # the generation only
        cached = calendar_for_code(world.street_a.code)
    services.add_day(street_user, world.street_a, date(2026, 3, 3), "holiday", "")
    with django_assert_num_queries(2):
        fresh = calendar_for_code(world.street_a.code)
    assert cached is not fresh and date(2026, 3, 3) in fresh.entries


def test_other_street_may_not_write(world, street_user):
    with pytest.raises(PermissionDenied):
        services.add_day(street_user, world.street_b, date(2027, 1, 1), "holiday", "")
    with pytest.raises(PermissionDenied):
        services.add_day(street_user, world.district, date(2027, 1, 1), "holiday", "")

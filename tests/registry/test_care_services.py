"""Care tags, visit schedules and visits: the services (jiedao.registry.care), with the brief's
numbers: a weekly visit on 2026-11-02 is next due 2026-11-09, overdue from 2026-11-10."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from freezegun import freeze_time

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.registry import care
from jiedao.registry.models import CareGroup, CareTag, Visit
from jiedao.territory.models import Dwelling

pytestmark = pytest.mark.django_db

BEIJING = timezone.get_fixed_timezone(8 * 60)


def at(day: str, hour: int = 10) -> datetime:
    """A Beijing time on a day (the street's clock)."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=BEIJING)


@pytest.fixture
def worker(role_users):
    return role_users[Role.GRID_WORKER]


@pytest.fixture
def elder(world):
    return world.persons["a1x"]


def stored(tag: CareTag) -> CareTag:
    return CareTag.all_objects.get(pk=tag.pk)


def audit(action: str) -> list[AuditEntry]:
    with unscoped():
        return list(AuditEntry.objects.filter(action=action).order_by("seq"))


# --- Schedules --------------------------------------------------------------------------------


@freeze_time("2026-11-01 09:00:00+08:00")
def test_elderly_living_alone_are_visited_weekly_by_default(worker, elder):
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    assert tag.visit_every_days == 7
    assert tag.next_visit_due == date(2026, 11, 8)  # no visit yet: today + 7
    assert tag.territory_code == elder.territory_code


@freeze_time("2026-11-01 09:00:00+08:00")
def test_other_groups_have_no_schedule_unless_set(worker, elder):
    tag = care.tag_person(worker, elder, CareGroup.DISABLED)
    assert tag.visit_every_days is None and tag.next_visit_due is None
    monthly = care.tag_person(worker, elder, CareGroup.VETERAN, visit_every_days=30)
    assert monthly.next_visit_due == date(2026, 12, 1)


def test_a_weekly_visit_on_2_november_is_next_due_on_9_november(worker, elder):
    with freeze_time("2026-11-01 09:00:00+08:00"):
        tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    with freeze_time("2026-11-02 18:00:00+08:00"):
        care.record_visit(worker, person=elder, kind=Visit.Kind.CARE, visited_at=at("2026-11-02"))
    tag = stored(tag)
    assert tag.last_visit_at == at("2026-11-02")
    assert tag.next_visit_due == date(2026, 11, 9)
    assert list(care.overdue_visits(worker, on=date(2026, 11, 9))) == []
    assert list(care.overdue_visits(worker, on=date(2026, 11, 10))) == [tag]


def test_a_late_evening_visit_counts_on_its_beijing_date(worker, elder):
    """Midnight in Beijing is 16:00 UTC the day before: the visit's date is Beijing's."""
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    care.record_visit(worker, person=elder, kind="care", visited_at=at("2026-11-03", 0))
    assert stored(tag).next_visit_due == date(2026, 11, 10)


def test_a_care_visit_moves_every_tag_of_the_person(worker, elder):
    weekly = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    fortnightly = care.tag_person(worker, elder, CareGroup.DISABLED, visit_every_days=14)
    unscheduled = care.tag_person(worker, elder, CareGroup.PARTY_MEMBER)
    care.record_visit(worker, person=elder, kind="care", visited_at=at("2026-11-02"))
    assert stored(weekly).next_visit_due == date(2026, 11, 9)
    assert stored(fortnightly).next_visit_due == date(2026, 11, 16)
    assert stored(unscheduled).next_visit_due is None
    assert stored(unscheduled).last_visit_at == at("2026-11-02")


def test_a_routine_visit_does_not_move_the_schedule(worker, elder):
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    due = tag.next_visit_due
    care.record_visit(worker, person=elder, kind="routine", visited_at=at("2026-11-20"))
    assert stored(tag).next_visit_due == due and stored(tag).last_visit_at is None


def test_an_older_visit_recorded_late_does_not_move_the_schedule_back(worker, elder):
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    care.record_visit(worker, person=elder, kind="care", visited_at=at("2026-11-09"))
    care.record_visit(worker, person=elder, kind="care", visited_at=at("2026-11-02"))
    assert stored(tag).next_visit_due == date(2026, 11, 16)
    assert Visit.all_objects.filter(person=elder).count() == 2  # both are in the log


def test_a_care_visit_to_a_household_moves_its_members_schedules(worker, elder, world):
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    other = care.tag_person(worker, world.persons["a1y"], CareGroup.ELDERLY_ALONE)
    due_other = other.next_visit_due
    visit = care.record_visit(
        worker, household=elder.household, kind="care", visited_at=at("2026-11-02")
    )
    assert visit.territory_code == elder.household.territory_code
    assert stored(tag).next_visit_due == date(2026, 11, 9)
    assert stored(other).next_visit_due == due_other


@freeze_time("2026-11-20 09:00:00+08:00")
def test_set_schedule_counts_from_the_last_visit_or_from_today(worker, elder, world):
    visited = care.tag_person(worker, elder, CareGroup.DISABLED)
    care.record_visit(worker, person=elder, kind="care", visited_at=at("2026-11-02"))
    assert care.set_visit_schedule(worker, visited, 14).next_visit_due == date(2026, 11, 16)
    never = care.tag_person(worker, world.persons["a1y"], CareGroup.VETERAN)
    assert care.set_visit_schedule(worker, never, 30).next_visit_due == date(2026, 12, 20)
    cleared = care.set_visit_schedule(worker, visited, None)
    assert cleared.visit_every_days is None and stored(visited).next_visit_due is None


@freeze_time("2026-11-01 09:00:00+08:00")
def test_tagging_takes_an_earlier_care_visit_into_account(worker, elder):
    care.record_visit(worker, person=elder, kind="care", visited_at=at("2026-10-30"))
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    assert tag.last_visit_at == at("2026-10-30")
    assert tag.next_visit_due == date(2026, 11, 6)


def test_the_default_schedule_follows_the_setting(worker, elder, settings):
    settings.JIEDAO_CARE_VISIT_DEFAULTS = {CareGroup.DISABLED: 30}
    assert care.tag_person(worker, elder, CareGroup.DISABLED).visit_every_days == 30
    assert care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE).visit_every_days is None


def test_a_tag_follows_its_person_to_a_new_grid(worker, elder, world):
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    elder.dwelling = elder.registered_dwelling = Dwelling.all_objects.get(
        building=world.buildings["a1y"]
    )
    elder.household = elder.registered_household = None
    elder.save()
    assert care.sync_care_territory(elder) == 1
    assert stored(tag).territory_code == world.grid_a1y.code


# --- Bad input: a clear error and nothing changed -----------------------------------------------


def test_tagging_twice_is_refused_and_changes_nothing(worker, elder):
    first = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE, note="独居，女儿在外地")
    with pytest.raises(ValidationError) as error:
        care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE, visit_every_days=3)
    assert "already in the group" in str(error.value.message_dict["group"])
    assert list(CareTag.all_objects.filter(person=elder)) == [first]
    assert stored(first).visit_every_days == 7 and stored(first).note == "独居，女儿在外地"
    assert len(audit("registry.care.tag")) == 1


@pytest.mark.parametrize("every", [0, -7, 367, 1000, True, "7"])
def test_a_schedule_outside_1_to_366_days_is_refused(worker, elder, every):
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    with pytest.raises(ValidationError) as error:
        care.set_visit_schedule(worker, tag, every)
    assert "visit_every_days" in error.value.message_dict
    assert stored(tag).visit_every_days == 7 and stored(tag).next_visit_due == tag.next_visit_due
    assert audit("registry.care.schedule") == []
    with pytest.raises(ValidationError):
        care.tag_person(worker, elder, CareGroup.DISABLED, visit_every_days=every)
    assert not CareTag.all_objects.filter(person=elder, group=CareGroup.DISABLED).exists()


@pytest.mark.parametrize("every", [1, 366])
def test_the_bounds_of_a_schedule_are_allowed(worker, elder, every):
    tag = care.tag_person(worker, elder, CareGroup.DISABLED, visit_every_days=every)
    assert tag.next_visit_due == timezone.localdate() + timedelta(days=every)


def test_an_unknown_group_is_refused(worker, elder):
    with pytest.raises(ValidationError) as error:
        care.tag_person(worker, elder, "vip")
    assert "group" in error.value.message_dict
    assert not CareTag.all_objects.exists()


@pytest.mark.parametrize("ahead", [timedelta(minutes=10), timedelta(days=1)])
def test_a_visit_in_the_future_is_refused_and_changes_nothing(worker, elder, ahead):
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    with pytest.raises(ValidationError) as error:
        care.record_visit(
            worker, person=elder, kind="care", visited_at=timezone.now() + ahead, note="看望"
        )
    assert error.value.message_dict["visited_at"] == ["A visit cannot be in the future."]
    assert not Visit.all_objects.exists()
    assert stored(tag).last_visit_at is None and stored(tag).next_visit_due == tag.next_visit_due
    assert audit("registry.visit.record") == []


def test_a_phone_clock_a_minute_ahead_is_not_the_future(worker, elder):
    visit = care.record_visit(
        worker, person=elder, kind="care", visited_at=timezone.now() + timedelta(minutes=1)
    )
    assert visit.pk is not None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "party"}, "kind"),
        ({"kind": "care", "note": "很长" * 1001}, "note"),
    ],
)
def test_bad_visit_fields_are_refused(worker, elder, kwargs, field):
    with pytest.raises(ValidationError) as error:
        care.record_visit(worker, person=elder, **kwargs)
    assert field in error.value.message_dict
    assert not Visit.all_objects.exists()


def test_a_visit_must_say_whom_it_was_to(worker):
    with pytest.raises(ValidationError, match="whom the visit was to"):
        care.record_visit(worker, kind="care")
    assert not Visit.all_objects.exists()


def test_a_person_and_someone_elses_household_are_refused(worker, elder, world):
    with pytest.raises(ValidationError, match="does not belong to this household"):
        care.record_visit(
            worker, person=elder, household=world.persons["a1y"].household, kind="care"
        )
    assert not Visit.all_objects.exists()


def test_removing_a_tag_twice_says_it_is_gone(worker, elder):
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    care.untag_person(worker, tag)
    with pytest.raises(ValidationError, match="removed in the meantime"):
        care.untag_person(worker, tag)
    assert len(audit("registry.care.untag")) == 1


# --- Audit trail -------------------------------------------------------------------------------


def test_every_write_is_audited_with_actor_and_territory(worker, elder):
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE, note="独居")
    care.set_visit_schedule(worker, tag, 3)
    visit = care.record_visit(worker, person=elder, kind="care", visited_at=at("2026-11-02"))
    care.untag_person(worker, tag)
    entries = {e.action: e for e in (*audit("registry.care.tag"), *audit("registry.care.schedule"))}
    entries |= {
        e.action: e for e in (*audit("registry.visit.record"), *audit("registry.care.untag"))
    }
    assert set(entries) == {
        "registry.care.tag",
        "registry.care.schedule",
        "registry.visit.record",
        "registry.care.untag",
    }
    for entry in entries.values():
        assert entry.actor_id == worker.pk
        assert entry.territory_code == elder.territory_code
    after = {action: e.after or {} for action, e in entries.items()}
    before = {action: e.before or {} for action, e in entries.items()}
    assert after["registry.care.tag"]["group"] == CareGroup.ELDERLY_ALONE
    assert before["registry.care.schedule"]["visit_every_days"] == 7
    assert after["registry.care.schedule"]["visit_every_days"] == 3
    assert entries["registry.visit.record"].object_id == str(visit.pk)
    assert after["registry.visit.record"]["schedules_moved"] == [tag.pk]
    assert before["registry.care.untag"]["person"] == elder.pk
    # The trail names the person by id only, never by name.
    assert all(elder.name not in str(e.after) + str(e.before) for e in entries.values())


def test_an_unchanged_schedule_writes_nothing(worker, elder):
    tag = care.tag_person(worker, elder, CareGroup.ELDERLY_ALONE)
    care.set_visit_schedule(worker, tag, 7)
    assert audit("registry.care.schedule") == []

"""Findings of the import review: no takeover of a record kept by another territory, masked
echoes in problem reports, abandoned jobs cancelled with their files, care tags and open
verifications following a person moved by an import."""

from __future__ import annotations

import datetime
import os

import pytest
from django.utils import timezone

from jiedao.audit.models import AuditEntry
from jiedao.core.crypto import blind_index
from jiedao.core.scopes import unscoped
from jiedao.jobs.base import PERIODIC_JOBS
from jiedao.registry import import_jobs, importing
from jiedao.registry.care import follow_person_territory
from jiedao.registry.models import (
    CareGroup,
    CareTag,
    ImportJob,
    Person,
    Residence,
    Verification,
)
from tests import factories as f
from tests.registry import import_fixtures
from tests.registry.import_fixtures import (
    REGISTRY_HEADERS,
    SURVEY_HEADERS,
    address,
    csv_bytes,
    household_rows,
    identity,
    imported,
    upload,
)

homes = import_fixtures.homes
media = import_fixtures.media
street_staff = import_fixtures.street_staff

ELSEWHERE = "This person is recorded in another territory; ask that office to transfer the record."


def person(number: str) -> Person:
    with unscoped():
        return Person.objects.get(identity_index=blind_index("identity", number))


def recorded_in_street_b(homes) -> tuple[Person, str]:
    """A person living in street B, with a known identity number and phone."""
    found = f.PersonFactory(household__dwelling=homes.b1x[0])
    number = identity()
    with unscoped():
        found.identity_number, found.phone = number, "13911112222"
        found.identity_index = blind_index("identity", number)
        found.phone_index = blind_index("phone", found.phone)
        found.save()
    return found, number


def reasons(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(job.row_errors.order_by("row", "id").values_list("row", "column", "reason"))


# --- 1. A record kept by another territory is not taken over ---------------------------------


def test_a_survey_cannot_pull_a_person_of_another_street_into_its_own(homes, street_staff):
    victim, number = recorded_in_street_b(homes)
    own = identity()
    rows = [
        [victim.name, number, "13800138000", address(homes.a1x[0]), "户主", "低保"],
        ["王二", own, "13800138001", address(homes.a1x[1]), "户主", ""],
    ]
    job = upload(street_staff, csv_bytes(SURVEY_HEADERS, rows), source="survey")
    job = importing.check(job)
    assert (job.created_count, job.updated_count, job.unchanged_count) == (1, 0, 0)
    assert reasons(job) == [(2, "公民身份号码", ELSEWHERE)]

    job = importing.run_import(job, actor=street_staff)
    assert (job.created_count, job.updated_count, job.unchanged_count) == (1, 0, 0)
    assert reasons(job) == [(2, "公民身份号码", ELSEWHERE)]
    after = person(number)
    assert (after.territory_code, after.dwelling_id) == (
        homes.b1x[0].territory_code,
        homes.b1x[0].pk,
    )
    assert (after.household_id, after.phone, after.version) == (
        victim.household_id,
        "13911112222",
        victim.version,
    )
    assert after.survey_digest == ""
    assert not CareTag.all_objects.filter(person=after).exists()
    assert person(own).territory_code == homes.a1x[1].territory_code  # the other row goes in


def test_the_reason_does_not_say_where_the_person_is_recorded(homes, street_staff):
    _victim, number = recorded_in_street_b(homes)
    rows = [["张三", number, "", address(homes.a1x[0]), "", ""]]
    job = imported(street_staff, csv_bytes(SURVEY_HEADERS, rows), source="survey")
    (reason,) = job.row_errors.values_list("reason", flat=True)
    assert "儒林" not in reason and homes.b1x[0].territory_code not in reason


def test_a_community_import_cannot_take_a_person_of_the_other_community(homes, street_staff):
    rows = [["李四", identity(), "", address(homes.a2x[0]), "户主", ""]]
    imported(street_staff, csv_bytes(SURVEY_HEADERS, rows), source="survey")  # community A2
    rows[0][3] = address(homes.a1x[0])
    job = imported(
        street_staff,
        csv_bytes(SURVEY_HEADERS, rows),
        source="survey",
        territory="110119001001",  # community A1: the person is A2's
    )
    assert reasons(job) == [(2, "公民身份号码", ELSEWHERE)]
    assert person(rows[0][1]).territory_code == homes.a2x[0].territory_code


# --- 2. Echoed cells are masked --------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "address", "echo"),
    [
        ("110119198005170011", False, "110119********0011"),
        ("11011919800517001x", False, "110119********001X"),
        ("110119800517001", False, "110119*****7001"),  # the old 15-digit number
        ("138 0013 8000", False, "138****8000"),
        ("+86 13800138000", False, "138****8000"),
        ("0571-88001234", False, "057*****1234"),
        ("女 110119198005170011", False, "女 110119********0011"),
        ("未知 110119198005170011", False, "未知 110119********001"),  # cut to 20
        ("男男", False, "男男"),
        ("1990-13-45", False, "1990-13-45"),
        ("19901345", False, "19901345"),  # eight digits: a date, not a phone
        ("邻居" * 15, False, "邻居" * 10),
        ("香水园路1号3号楼2单元301", True, "香水园路1号"),
        ("110119198005170011", True, "110119********0011"),
        ("某小区3栋", True, "****"),
    ],
)
def test_shown_masks_identity_phone_and_address_cells(cell, address, echo):
    assert importing.shown(cell, address=address) == echo


def test_a_mis_mapped_identity_number_or_phone_is_not_echoed(homes, street_staff):
    rows = household_rows("H1", homes.a1x[0], 2)
    secret, phone = identity(), "13912345678"
    rows[0] = [*rows[0], secret]  # the 性别 column holds an identity number
    rows[1] = [rows[1][0], rows[1][1], rows[1][2], phone, rows[1][4], ""]  # relation: a phone
    job = importing.check(upload(street_staff, csv_bytes([*REGISTRY_HEADERS, "性别"], rows)))
    text = " ".join(reason for _row, _column, reason in reasons(job))
    assert secret not in text and phone not in text
    assert f"Unknown sex {secret[:6]}********{secret[-4:]}: write 男 or 女." in text
    assert "Unknown relation to the head 139****5678:" in text


def test_an_unknown_address_is_echoed_as_road_and_number_only(homes, street_staff):
    rows = household_rows("H1", homes.a1x[0], 1)
    rows[0][4] = "香水园路999号8号楼1单元1201"
    job = importing.check(upload(street_staff, csv_bytes(REGISTRY_HEADERS, rows)))
    assert reasons(job) == [
        (2, "住址", "No dwelling in 香水园街道 has the standard address 香水园路999号.")
    ]


def test_a_header_row_that_is_a_person_is_shown_masked():
    headers = ["王五", "110119198005170011", "13800138000"]
    labels = [importing.column_label(headers, index) for index in range(3)]
    assert labels == ["王五", "110119********0011", "138****8000"]


def test_a_registered_address_column_is_not_taken_for_the_dwelling():
    headers = ["户号", "姓名", "公民身份号码", "与户主关系", "户籍地址"]
    mapping = importing.suggest_mapping(headers, ImportJob.Source.REGISTRY)
    assert mapping.get("registered_address") == 4
    assert "address" not in mapping
    both = importing.suggest_mapping([*headers, "标准地址"], ImportJob.Source.REGISTRY)
    assert (both["address"], both["registered_address"]) == (5, 4)


# --- 3. Abandoned jobs -----------------------------------------------------------------------


def _aged(job: ImportJob, days: float, state: str) -> ImportJob:
    when = timezone.now() - datetime.timedelta(days=days)
    ImportJob.all_objects.filter(pk=job.pk).update(created_at=when, state=state)
    job.refresh_from_db()
    return job


def test_jobs_left_for_seven_days_are_cancelled_and_their_files_deleted(
    homes, street_staff, django_capture_on_commit_callbacks
):
    data = csv_bytes(REGISTRY_HEADERS, household_rows("H1", homes.a1x[0], 1))
    left = {
        state: _aged(upload(street_staff, data), 7.5, state)
        for state in ("uploaded", "checking", "checked", "failed")
    }
    recent = _aged(upload(street_staff, data), 6.5, "checked")
    running = _aged(upload(street_staff, data), 30, "importing")
    paths = {pk: job.file.path for pk, job in [(j.pk, j) for j in [*left.values(), recent]]}
    assert all(os.path.exists(path) for path in paths.values())

    with django_capture_on_commit_callbacks(execute=True):
        assert import_jobs.cancel_abandoned_imports() == 4

    for state, job in left.items():
        job.refresh_from_db()
        assert (job.state, job.file.name) == (ImportJob.State.CANCELLED, "")
        assert job.finished_at is not None
        assert not os.path.exists(paths[job.pk])
        entry = AuditEntry.all_objects.get(
            action="registry.import.abandoned", object_id=str(job.pk)
        )
        assert (entry.actor_id, entry.actor_label) == (None, "system")
        assert entry.before == {"state": state}
    recent.refresh_from_db()
    running.refresh_from_db()
    assert (recent.state, running.state) == (ImportJob.State.CHECKED, ImportJob.State.IMPORTING)
    assert os.path.exists(paths[recent.pk]) and running.file
    with django_capture_on_commit_callbacks(execute=True):
        assert import_jobs.cancel_abandoned_imports() == 0  # a second run finds nothing


def test_finished_jobs_are_not_touched(homes, street_staff, django_capture_on_commit_callbacks):
    data = csv_bytes(REGISTRY_HEADERS, household_rows("H1", homes.a1x[0], 1))
    done = _aged(imported(street_staff, data), 10, "done")
    cancelled = _aged(upload(street_staff, data), 10, "cancelled")
    with django_capture_on_commit_callbacks(execute=True):
        assert import_jobs.cancel_abandoned_imports() == 0
    assert not AuditEntry.all_objects.filter(action="registry.import.abandoned").exists()
    done.refresh_from_db()
    cancelled.refresh_from_db()
    assert (done.state, cancelled.state) == ("done", "cancelled")


def test_the_cleanup_runs_daily():
    registered = PERIODIC_JOBS["registry.cancel_abandoned_imports"]
    assert registered.every == datetime.timedelta(days=1)
    assert registered.task is import_jobs.cancel_abandoned
    assert datetime.timedelta(days=7) == import_jobs.IMPORT_ABANDONED_AFTER


# --- 4. Care tags and open verifications follow a move inside the territory -----------------


def test_a_person_moved_by_the_survey_takes_tags_and_open_verification_along(homes, street_staff):
    number = identity()
    line = ["赵六", number, "13800138000", address(homes.a1x[0]), "户主", "独居老人"]
    imported(street_staff, csv_bytes(SURVEY_HEADERS, [line]), source="survey")
    moving = person(number)
    old_grid, new_grid = homes.a1x[0].territory_code, homes.a2x[0].territory_code
    done = Verification.all_objects.create(
        person=moving, found=Residence.CONSISTENT, state="done", territory_code=old_grid
    )
    open_one = Verification.all_objects.create(
        person=moving, found=Residence.CONSISTENT, territory_code=old_grid
    )
    bystander = f.PersonFactory(household__dwelling=homes.a1x[1])
    CareTag.all_objects.create(person=bystander, group=CareGroup.DISABLED)

    line[3] = address(homes.a2x[0])
    job = imported(street_staff, csv_bytes(SURVEY_HEADERS, [line]), source="survey")
    assert job.updated_count == 1
    assert person(number).territory_code == new_grid
    assert set(
        CareTag.all_objects.filter(person=moving).values_list("territory_code", flat=True)
    ) == {new_grid}
    open_one.refresh_from_db()
    done.refresh_from_db()
    assert (open_one.territory_code, done.territory_code) == (new_grid, old_grid)
    assert CareTag.all_objects.get(person=bystander).territory_code == old_grid


def test_follow_person_territory_is_one_update_per_table(homes, django_assert_num_queries):
    persons = [f.PersonFactory(household__dwelling=homes.a1x[0]) for _ in range(3)]
    for one in persons:
        CareTag.all_objects.create(person=one, group=CareGroup.DISABLED)
        Verification.all_objects.create(
            person=one, found=Residence.CONSISTENT, territory_code=one.territory_code
        )
    new_grid = homes.a2x[0].territory_code
    Person.all_objects.filter(pk__in=[p.pk for p in persons[:2]]).update(territory_code=new_grid)
    with django_assert_num_queries(2):
        moved = follow_person_territory([p.pk for p in persons])
    assert moved == {"care_tags": 2, "verifications": 2}
    codes = dict(CareTag.all_objects.values_list("person_id", "territory_code"))
    assert [codes[p.pk] for p in persons] == [new_grid, new_grid, homes.a1x[0].territory_code]
    assert follow_person_territory([]) == {"care_tags": 0, "verifications": 0}

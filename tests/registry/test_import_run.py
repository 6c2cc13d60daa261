"""The import: what each source writes, versions and audit, idempotence, updates of changed
fields only, crash and resume, cancel, uploads refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.crypto import blind_index
from jiedao.core.scopes import unscoped
from jiedao.registry import importing
from jiedao.registry.models import (
    CareGroup,
    CareTag,
    Household,
    ImportJob,
    Person,
    PersonVersion,
    Residence,
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
    registry_rows,
    survey_row,
    upload,
    xlsx_bytes,
)

# Fixtures shared by the import tests (a conftest of their own would collide with others').
homes = import_fixtures.homes
media = import_fixtures.media
street_staff = import_fixtures.street_staff


def person(number: str) -> Person:
    with unscoped():
        return Person.objects.get(identity_index=blind_index("identity", number))


def tags_of(found: Person) -> list[str]:
    return list(CareTag.all_objects.filter(person=found).values_list("group", flat=True))


def imported_persons() -> int:
    with unscoped():
        return Person.objects.exclude(registry_digest="", survey_digest="").count()


def outcome(job: ImportJob) -> tuple[int, int, int]:
    return job.created_count, job.updated_count, job.unchanged_count


def test_the_extract_creates_persons_registered_at_their_dwelling(
    homes, street_staff, django_capture_on_commit_callbacks
):
    rows = household_rows("1100001", homes.a1x[0], 3)
    with django_capture_on_commit_callbacks(execute=True):
        job = imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows))
    assert job.state == ImportJob.State.DONE
    assert outcome(job) == (3, 0, 0)
    head = person(rows[0][2])
    assert head.name == rows[0][1] and head.relation == Person.Relation.HEAD
    assert head.registered_dwelling == homes.a1x[0] and head.dwelling is None
    assert head.registered_household.kind == Household.Kind.REGISTERED
    assert head.registered_household.number == "1100001"
    assert head.registered_household.dwelling == homes.a1x[0]
    assert head.registered_address == address(homes.a1x[0])
    assert head.residence == Residence.REGISTERED_NOT_LIVING
    assert head.territory_code == homes.a1x[0].territory_code == "110119001001001"
    assert head.birth_date.isoformat() == "1980-05-17" and head.sex == Person.Sex.MALE
    assert person(rows[2][2]).relation == Person.Relation.CHILD
    with unscoped():
        assert Household.objects.filter(number="1100001").count() == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT identity_number FROM registry_person WHERE id = %s", [head.pk])
        assert rows[0][2] not in cursor.fetchone()[0]  # encrypted at rest
    versions = PersonVersion.all_objects.filter(person=head)
    assert [(v.version, v.source) for v in versions] == [(1, PersonVersion.Source.IMPORT)]
    assert versions[0].changes["identity_number"] == "changed"
    assert versions[0].changes["name"] == [None, rows[0][1]]
    assert versions[0].changed_by == street_staff
    job.refresh_from_db()
    assert job.file.name == ""  # the upload (identity numbers in clear) is gone


def test_the_survey_says_where_they_live_and_completes_the_classification(homes, street_staff):
    extract = household_rows("1100001", homes.a1x[0], 3)
    imported(street_staff, csv_bytes(REGISTRY_HEADERS, extract))
    survey = [
        survey_row(extract[0], homes.a1x[0], care="独居老人；党员"),
        survey_row(extract[1], homes.a1y[0], phone="010-61234567"),
        ["赵新", identity(), "13900139000", address(homes.a1y[0]), "户主", ""],
    ]
    job = imported(street_staff, csv_bytes(SURVEY_HEADERS, survey), source=ImportJob.Source.SURVEY)
    assert outcome(job) == (1, 2, 0)
    head, spouse, newcomer = person(extract[0][2]), person(extract[1][2]), person(survey[2][1])
    assert head.residence == Residence.CONSISTENT
    assert head.dwelling == homes.a1x[0] and head.household.kind == Household.Kind.RESIDING
    assert head.phone == "13800138000"
    assert sorted(tags_of(head)) == [
        CareGroup.ELDERLY_ALONE,
        CareGroup.PARTY_MEMBER,
    ]
    assert spouse.dwelling == homes.a1y[0] and spouse.phone == "01061234567"
    # Lives in another dwelling than the registered one: classified where they live.
    assert spouse.residence == Residence.LIVES_NOT_REGISTERED
    assert spouse.territory_code == homes.a1y[0].territory_code  # hangs off where they live
    assert newcomer.residence == Residence.LIVES_NOT_REGISTERED
    assert newcomer.household_id == spouse.household_id  # one residing household per dwelling
    assert person(extract[2][2]).residence == Residence.REGISTERED_NOT_LIVING
    change = PersonVersion.all_objects.get(person=head, version=2)
    assert change.changes["dwelling_id"] == [None, homes.a1x[0].pk]
    assert change.changes["phone"] == "changed"
    assert change.changes["care_groups"] == [[], ["elderly_alone", "party_member"]]


def test_one_audit_entry_per_import_with_its_counts(homes, street_staff):
    persons = AuditEntry.all_objects.filter(action__startswith="registry.person")
    before = persons.count()
    job = imported(street_staff, csv_bytes(REGISTRY_HEADERS, registry_rows(homes.street_a)))
    entries = AuditEntry.all_objects.filter(action="registry.import.done", object_id=str(job.pk))
    assert [(e.after["created"], e.after["rows"], e.actor) for e in entries] == [
        (24, 24, street_staff)
    ]
    assert persons.count() == before


def test_importing_the_same_file_twice_changes_nothing(homes, street_staff):
    data = csv_bytes(REGISTRY_HEADERS, registry_rows(homes.street_a))
    first = imported(street_staff, data)
    versions = PersonVersion.all_objects.count()
    second = upload(street_staff, data)
    assert importing.earlier_imports(second) == [first]
    second = importing.run_import(second, actor=street_staff)
    assert outcome(second) == (0, 0, 24)
    assert PersonVersion.all_objects.count() == versions
    assert imported_persons() == 24


def test_csv_and_xlsx_of_the_same_rows_are_the_same_import(homes, street_staff):
    rows = registry_rows(homes.street_a)
    imported(street_staff, xlsx_bytes(REGISTRY_HEADERS, rows), name="extract.xlsx")
    again = imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows, "gbk"))
    assert outcome(again) == (0, 0, 24)


def test_a_changed_row_updates_only_what_changed(homes, street_staff):
    rows = household_rows("1100001", homes.a1x[0], 3)
    imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows))
    old_name, rows[1][1] = rows[1][1], "李改名"
    rows[2][0], rows[2][3] = "1100002", "户主"  # the child founds a household elsewhere
    rows[2][4] = address(homes.a1y[0])
    job = imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows))
    assert outcome(job) == (0, 2, 1)
    renamed, moved = person(rows[1][2]), person(rows[2][2])
    assert (renamed.name, renamed.version) == ("李改名", 2)
    latest = PersonVersion.all_objects.get(person=renamed, version=2)
    assert latest.changes == {"name": [old_name, "李改名"]}
    assert moved.registered_dwelling == homes.a1y[0]
    assert moved.registered_household.number == "1100002"
    assert set(PersonVersion.all_objects.get(person=moved, version=2).changes) == {
        "relation",
        "registered_household_id",
        "registered_dwelling_id",
        "registered_address",
    }
    assert person(rows[0][2]).version == 1


def test_a_blank_phone_or_relation_in_the_survey_keeps_what_is_known(homes, street_staff):
    number = identity()
    line = ["王一", number, "13800138000", address(homes.a1x[0]), "户主", "低保"]
    imported(street_staff, csv_bytes(SURVEY_HEADERS, [line]), source="survey")
    line[2], line[4], line[5] = "", "", ""
    job = imported(street_staff, csv_bytes(SURVEY_HEADERS, [line]), source="survey")
    assert outcome(job) == (0, 0, 1)  # the row differs, the record does not: no version
    found = person(number)
    assert (found.phone, found.relation, found.version) == ("13800138000", "head", 1)
    assert tags_of(found) == ["subsistence"]
    assert found.survey_digest  # the new row's digest is kept: a third run is "unchanged"


def test_a_verified_status_stands_until_an_import_moves_the_person(homes, street_staff):
    rows = household_rows("1100001", homes.a1x[0], 2)
    imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows))
    Person.all_objects.filter(
        identity_index__in=[
            blind_index("identity", rows[0][2]),
            blind_index("identity", rows[1][2]),
        ]
    ).update(verified_residence=Residence.GONE, residence=Residence.GONE)
    rows[0][1] = "王改名"  # the same dwelling: the finding stands
    rows[1][4] = address(homes.a1x[1])  # registered elsewhere now: the finding goes
    rows[1][0], rows[1][3] = "1100002", "户主"
    imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows))
    kept, moved = person(rows[0][2]), person(rows[1][2])
    assert (kept.verified_residence, kept.residence) == (Residence.GONE, Residence.GONE)
    assert (moved.verified_residence, moved.residence) == ("", Residence.REGISTERED_NOT_LIVING)
    change = PersonVersion.all_objects.get(person=moved, version=2).changes
    assert change["verified_residence"] == [Residence.GONE, ""]


def test_rows_with_problems_are_skipped_and_counted(homes, street_staff):
    rows = registry_rows(homes.a1x, 2)
    rows[3][2] = "123"
    rows[5][4] = "nowhere"
    job = imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows))
    assert outcome(job) == (6, 0, 0)
    assert importing.skipped_rows(job) == 2
    assert sorted(job.row_errors.values_list("row", flat=True)) == [5, 7]
    assert "2 rows skipped for problems" in job.message


def test_the_import_works_without_a_dry_run_and_records_problems(homes, street_staff):
    rows = registry_rows(homes.a1x[:2], 2)
    rows[0][3] = "邻居"
    job = upload(street_staff, csv_bytes(REGISTRY_HEADERS, rows))
    job = importing.run_import(job)
    assert job.state == ImportJob.State.DONE
    # Row 2's relation is unknown, so household H1 has no head: both its rows are skipped.
    assert (outcome(job), job.error_count) == ((2, 0, 0), 3)
    assert job.row_errors.filter(row=2, column="与户主关系").count() == 2
    assert job.row_errors.filter(row=3, column="与户主关系").count() == 1
    assert importing.skipped_rows(job) == 2  # rows, not problems


def test_a_person_recorded_in_another_street_is_a_problem_not_an_update(homes, street_staff):
    """The extract may not touch a record another street keeps (docs: "Territories"): its
    office transfers it. Nothing is written for the row, not even a registered household."""
    elsewhere = f.PersonFactory(household__dwelling=homes.b1x[0], registered_dwelling=None)
    number = identity()
    with unscoped():
        elsewhere.identity_number = number
        elsewhere.identity_index = blind_index("identity", number)
        elsewhere.save()
    rows = [["1100001", elsewhere.name, number, "户主", address(homes.a1x[0])]]
    job = imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows))
    assert outcome(job) == (0, 0, 0)
    assert list(job.row_errors.values_list("row", "column", "reason")) == [
        (
            2,
            "公民身份号码",
            "This person is recorded in another territory; ask that office to transfer the record.",
        )
    ]
    found = person(number)
    assert (found.registered_dwelling, found.version) == (None, elsewhere.version)
    assert (found.territory_code, found.registry_digest) == (homes.b1x[0].territory_code, "")
    assert not Household.all_objects.filter(number="1100001").exists()


def test_a_household_number_of_another_street_is_a_problem(homes, street_staff):
    Household.all_objects.create(
        dwelling=homes.b1x[0], kind=Household.Kind.REGISTERED, number="1100001"
    )
    rows = household_rows("1100001", homes.a1x[0], 2)
    job = imported(street_staff, csv_bytes(REGISTRY_HEADERS, rows))
    assert outcome(job) == (0, 0, 0)
    assert set(job.row_errors.values_list("row", "reason")) == {
        (2, "Household number 1100001 belongs to a household outside 香水园街道."),
        (3, "Household number 1100001 belongs to a household outside 香水园街道."),
    }


# --- Crash safety ------------------------------------------------------------------------------


def snapshot() -> list[tuple]:
    """Everything an import writes, without ids: equal snapshots, equal imports."""
    with unscoped():
        persons = sorted(
            (
                p.identity_number,
                p.name,
                p.version,
                p.registered_dwelling_id,
                p.registered_household.number if p.registered_household else "",
                p.residence,
                p.versions.count(),
            )
            for p in Person.objects.exclude(registry_digest="")
        )
        households = sorted(
            Household.objects.filter(kind="registered").values_list("number", "dwelling_id")
        )
    return [*persons, *households]


def wipe_imported() -> None:
    with unscoped():
        Person.all_objects.exclude(registry_digest="").delete()
        Household.all_objects.filter(kind="registered").delete()


def test_a_crash_mid_import_resumes_to_the_same_state_as_an_uninterrupted_run(
    homes, street_staff, monkeypatch
):
    monkeypatch.setattr(importing, "CHUNK_ROWS", 5)
    rows = registry_rows(homes.street_a)  # 24 rows: chunks of 5, 5, 5, 5, 4
    data = csv_bytes(REGISTRY_HEADERS, rows)
    importing.run_import(upload(street_staff, data))
    expected = snapshot()
    assert len(expected) == 24 + 8
    wipe_imported()

    real, calls = importing._upsert, []

    def crash_in_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker died")
        return real(*args, **kwargs)

    monkeypatch.setattr(importing, "_upsert", crash_in_third_chunk)
    job = importing.check(upload(street_staff, data))
    with pytest.raises(RuntimeError):
        importing.run_import(job)
    job.refresh_from_db()
    assert job.state == ImportJob.State.FAILED
    assert "worker died" in job.message
    assert (job.checkpoint_row, job.processed_rows, job.created_count) == (12, 10, 10)
    assert imported_persons() == 10  # the third chunk rolled back whole
    assert job.file  # kept for the resume

    importing.resume_import(street_staff, job)
    job = importing.run_import(job)
    assert job.state == ImportJob.State.DONE
    assert outcome(job) == (24, 0, 0) and job.processed_rows == 24
    assert snapshot() == expected


def test_a_job_killed_after_its_last_commit_but_before_done_finishes_on_rerun(
    homes, street_staff, monkeypatch
):
    data = csv_bytes(REGISTRY_HEADERS, registry_rows(homes.a1x))
    job = upload(street_staff, data)
    monkeypatch.setattr(importing, "_finish_import", lambda *a: (_ for _ in ()).throw(SystemExit))
    with pytest.raises(SystemExit):
        importing.run_import(job)
    job.refresh_from_db()
    assert job.state == ImportJob.State.IMPORTING  # what a dead worker leaves behind
    monkeypatch.undo()
    job = importing.run_import(job)  # the retried task
    assert (job.state, outcome(job)) == (ImportJob.State.DONE, (12, 0, 0))
    assert imported_persons() == 12


def test_a_run_superseded_by_another_stops_without_writing(homes, street_staff, monkeypatch):
    """Another run (a resume clicked twice, a retried task) committed a chunk meanwhile: this
    run finds the checkpoint moved when it takes the job's lock, and stops quietly."""
    job = upload(street_staff, csv_bytes(REGISTRY_HEADERS, registry_rows(homes.street_a)))
    real = importing.validate

    def other_run_commits(plan, facts, batch):
        ImportJob.all_objects.filter(pk=job.pk).update(checkpoint_row=batch[-1][0] + 1)
        return real(plan, facts, batch)

    monkeypatch.setattr(importing, "validate", other_run_commits)
    job = importing.run_import(job)
    assert job.state == ImportJob.State.IMPORTING  # the other run carries on
    assert imported_persons() == 0


# --- Cancel, resume, refusals ------------------------------------------------------------------


def test_cancel_is_for_jobs_not_yet_importing(
    homes, street_staff, django_capture_on_commit_callbacks
):
    job = upload(street_staff, csv_bytes(REGISTRY_HEADERS, registry_rows(homes.a1x)))
    stored = job.file.path
    with django_capture_on_commit_callbacks(execute=True):
        job = importing.cancel_import(street_staff, importing.check(job))
    assert job.state == ImportJob.State.CANCELLED
    job.refresh_from_db()
    assert not job.file and not __import__("os").path.exists(stored)
    assert importing.run_import(job).state == ImportJob.State.CANCELLED
    assert imported_persons() == 0
    done = imported(street_staff, csv_bytes(REGISTRY_HEADERS, registry_rows(homes.a1y)))
    with pytest.raises(ValidationError, match="cannot be cancelled"):
        importing.cancel_import(street_staff, done)
    with pytest.raises(ValidationError, match="Only a failed or running import"):
        importing.resume_import(street_staff, done)
    with pytest.raises(ValidationError, match="Only a checked import"):
        importing.confirm_import(street_staff, done)


def test_confirm_queues_the_import_after_commit(
    homes, street_staff, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    job = importing.check(
        upload(street_staff, csv_bytes(REGISTRY_HEADERS, registry_rows(homes.a1x)))
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = importing.confirm_import(street_staff, job, "zh-hans")
    assert job.state == ImportJob.State.IMPORTING
    task = DBTaskResult.objects.get(task_path="jiedao.registry.import_jobs.import_file")
    assert task.args_kwargs["kwargs"] == {
        "job_id": job.pk,
        "actor_id": street_staff.pk,
        "language": "zh-hans",
    }
    assert AuditEntry.all_objects.filter(action="registry.import.confirm").count() == 1


def test_the_background_jobs_run_the_dry_run_and_the_import_in_the_given_language(
    homes, street_staff
):
    from jiedao.registry.import_jobs import check_import, import_file

    rows = household_rows("H1", homes.a1x[0], 2)
    rows[1][2] = rows[1][2][:-1] + ("1" if rows[1][2][-1] == "0" else "0")
    job = upload(street_staff, csv_bytes(REGISTRY_HEADERS, rows))
    check_import.call(job_id=job.pk, language="zh-hans")
    job.refresh_from_db()
    assert job.state == ImportJob.State.CHECKED
    assert job.row_errors.get(row=3).reason == "校验码（最后一位）不符，请检查是否输错。"
    import_file.call(job_id=job.pk, actor_id=street_staff.pk, language="en")
    job.refresh_from_db()
    assert (job.state, outcome(job)) == (ImportJob.State.DONE, (1, 0, 0))
    import_file.call(job_id=0)  # a job deleted meanwhile: nothing to do


def test_uploads_too_large_unreadable_or_outside_are_refused_and_nothing_is_kept(
    homes, street_staff, role_users, settings, media
):
    settings.JIEDAO_IMPORT_MAX_BYTES = 100
    with pytest.raises(ValidationError, match="at most 100"):
        upload(street_staff, csv_bytes(REGISTRY_HEADERS, registry_rows(homes.a1x)))
    settings.JIEDAO_IMPORT_MAX_BYTES = 10_000_000
    with pytest.raises(ValidationError, match="neither UTF-8 nor GB18030"):
        upload(street_staff, b"\x81\x20" * 10 + b"\xff\xff\xff")
    with pytest.raises(ValidationError, match="not a valid XLSX"):
        upload(street_staff, b"PK\x03\x04garbage", name="x.xlsx")
    with pytest.raises(PermissionDenied):
        upload(street_staff, b"a,b\n1,2\n", territory="110119002000")  # street B
    with pytest.raises(PermissionDenied):
        upload(role_users[Role.WORKSTATION_STAFF], b"a,b\n1,2\n", territory="110119001001")
    with pytest.raises(ValidationError, match="empty"):
        importing.create_import(
            street_staff, SimpleUploadedFile("x.csv", b""), "registry", "110119001000"
        )
    assert ImportJob.all_objects.count() == 0
    assert not any(p.is_file() for p in media.rglob("*")) if media.exists() else True


def test_a_district_admin_may_import_into_any_street_of_the_district(homes, role_users):
    job = upload(
        role_users[Role.DISTRICT_ADMIN],
        csv_bytes(REGISTRY_HEADERS, household_rows("H1", homes.b1x[0], 1)),
        territory="110119002000",
    )
    assert importing.run_import(job).created_count == 1


def test_upload_records_what_it_read(homes, street_staff):
    data = csv_bytes(REGISTRY_HEADERS, registry_rows(homes.a1x), "gbk")
    job = upload(street_staff, data, name="户籍.csv")
    import hashlib

    assert job.sha256 == hashlib.sha256(data).hexdigest()
    assert (job.encoding, job.headers, job.total_rows) == ("gb18030", REGISTRY_HEADERS, 12)
    assert job.original_name == "户籍.csv" and job.file.name.endswith(".csv")
    assert "户籍" not in job.file.name  # stored under a random name
    assert job.state == ImportJob.State.UPLOADED and job.created_by == street_staff
    uploads = AuditEntry.all_objects.filter(action="registry.import.upload", object_id=str(job.pk))
    assert uploads.exists()

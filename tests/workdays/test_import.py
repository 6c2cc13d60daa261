"""Importing a year: the dry run reports every bad row and changes nothing; bad files of every
kind get a clear error; a re-import changes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.workdays import services
from jiedao.workdays.calendar import calendar_for_code, is_working_day
from jiedao.workdays.importer import parse_file
from jiedao.workdays.models import CalendarDay
from tests.workdays.conftest import xlsx_bytes

pytestmark = pytest.mark.django_db

GOOD = "date,kind,name\n2027-10-01,holiday,国庆节\n2027-10-04,holiday,国庆节\n2027-10-09,workday,国庆节调休\n"


def stored() -> int:
    with unscoped():
        return CalendarDay.objects.count()


def audit_count() -> int:
    with unscoped():
        return AuditEntry.objects.count()


def test_dry_run_writes_nothing_then_confirm_imports_and_reimport_is_idempotent(world, street_user):
    dry = services.import_year(street_user, world.street_a, GOOD.encode())
    assert dry.ok and len(dry.create) == 3 and not dry.applied
    assert stored() == 0 and audit_count() == 0
    done = services.import_year(street_user, world.street_a, GOOD.encode(), confirm=True)
    assert done.applied and stored() == 3
    assert not is_working_day(date(2027, 10, 1), calendar_for_code(world.street_a.code))
    entries = audit_count()
    again = services.import_year(street_user, world.street_a, GOOD.encode(), confirm=True)
    assert len(again.unchanged) == 3 and not again.create and not again.update
    assert stored() == 3 and audit_count() == entries + 1  # only the import summary


def test_changed_row_is_an_update(world, street_user):
    services.import_year(street_user, world.street_a, GOOD.encode(), confirm=True)
    changed = GOOD.replace("2027-10-04,holiday", "2027-10-04,workday")
    report = services.import_year(street_user, world.street_a, changed.encode())
    assert [d.day for d in report.update] == [date(2027, 10, 4)] and len(report.unchanged) == 2


def test_bad_rows_are_all_reported_and_nothing_is_imported(world, street_user):
    text = (
        "date,kind,name\n"
        "2027-10-01,holiday,国庆节\n"
        "2027-13-01,holiday,坏日期\n"
        "2027-10-02,vacation,坏类型\n"
        "2027-10-01,workday,重复\n"
        "tomorrow,maybe,\n"
    )
    report = services.import_year(street_user, world.street_a, text.encode(), confirm=True)
    assert not report.applied and stored() == 0 and audit_count() == 0
    found = {(e.row, e.column) for e in report.errors}
    assert found == {(3, "date"), (4, "kind"), (5, "date"), (6, "date"), (6, "kind")}
    assert all(e.reason for e in report.errors)


def test_chinese_headers_kinds_and_date_formats_in_gbk(world, street_user):
    text = (
        "日期,类型,名称\n2027年10月1日,休,国庆节\n2027/10/09,班,国庆节调休\n20271002,放假,国庆节\n"
    )
    report = services.import_year(street_user, world.street_a, text.encode("gbk"))
    assert report.ok and [d.kind for d in report.create] == ["holiday", "workday", "holiday"]
    assert report.create[0].name == "国庆节"


def test_utf8_with_bom(world, street_user):
    report = services.import_year(street_user, world.street_a, GOOD.encode("utf-8-sig"))
    assert report.ok and len(report.create) == 3


def test_xlsx_with_date_cells(world, street_user):
    content = xlsx_bytes(
        [
            ["date", "kind", "name"],
            [date(2027, 10, 1), "holiday", "国庆节"],
            ["2027-10-09", "workday", ""],
        ]
    )
    report = services.import_year(
        street_user, world.street_a, content, filename="2027.xlsx", confirm=True
    )
    assert report.applied and stored() == 2


@pytest.mark.parametrize(
    ("content", "filename", "words"),
    [
        (b"", "a.csv", "empty"),
        (b"   \n\n", "a.csv", "empty"),
        (b"date,kind,name\n", "a.csv", "no days"),
        (b"when,what\n2027-10-01,holiday\n", "a.csv", "column"),
        (b"\xff\xfe\x00\x00garbage\x81\x30", "a.csv", ""),
        (b"PK\x03\x04not really a zip", "a.xlsx", "XLSX"),
        (b"date,kind\n" + b"2027-10-01,holiday\n" * 1001, "a.csv", ""),
        (b"x" * (1024 * 1024 + 1), "a.csv", "1 MB"),
    ],
)
def test_bad_files_get_a_clear_error_and_change_nothing(
    world, street_user, content, filename, words
):
    with translation.override("en"):
        report = services.import_year(
            street_user, world.street_a, content, filename=filename, confirm=True
        )
    assert report.errors and not report.applied
    assert words in " ".join(e.reason for e in report.errors)
    assert stored() == 0 and audit_count() == 0


def test_gbk_bytes_that_are_not_utf8_are_read():
    parsed = parse_file("date,kind,name\n2027-02-06,休,春节\n".encode("gbk"))
    assert not parsed.errors and parsed.days[0].name == "春节"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=400))
def test_fuzz_random_bytes_never_crash(content):
    parsed = parse_file(content, "fuzz.csv")
    assert parsed.errors or parsed.days
    for error in parsed.errors:
        assert error.reason and error.row >= 0


CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["2027-10-01", "2027-02-30", "holiday", "workday", "班", "休", "", "0"]),
)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(CELL, min_size=0, max_size=4), max_size=8))
def test_fuzz_rows_every_day_or_error(rows):
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer).writerows([["date", "kind", "name"], *rows])
    parsed = parse_file(buffer.getvalue().encode("utf-8"), "fuzz.csv")
    bad_rows = {e.row for e in parsed.errors}
    assert not bad_rows & {d.row for d in parsed.days}
    assert len({d.day for d in parsed.days}) == len(parsed.days)

"""The dry run: every kind of problem, with its row (spreadsheet numbering) and column, the
predicted counts, and that it writes no person and no household."""

from __future__ import annotations

import datetime

import pytest

from jiedao.core.scopes import unscoped
from jiedao.registry import importing
from jiedao.registry.models import Household, ImportJob, Person
from tests.registry import import_fixtures
from tests.registry.import_fixtures import (
    REGISTRY_HEADERS,
    SURVEY_HEADERS,
    address,
    csv_bytes,
    household_rows,
    identity,
    registry_rows,
    upload,
)

# Fixtures shared by the import tests (a conftest of their own would collide with others').
homes = import_fixtures.homes
media = import_fixtures.media
street_staff = import_fixtures.street_staff


def problems(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(job.row_errors.values_list("row", "column", "reason"))


def checked(user, headers, rows, **kwargs) -> ImportJob:
    job = importing.check(upload(user, csv_bytes(headers, rows), **kwargs))
    assert job.state == ImportJob.State.CHECKED, job.message
    return job


def counts() -> tuple[int, int]:
    with unscoped():
        return Person.objects.count(), Household.objects.count()


def test_a_clean_extract_has_no_problem_and_the_dry_run_writes_nothing(homes, street_staff):
    before = counts()
    job = checked(street_staff, REGISTRY_HEADERS, registry_rows(homes.street_a))
    assert problems(job) == []
    assert (job.total_rows, job.processed_rows) == (24, 24)
    assert (job.created_count, job.updated_count, job.unchanged_count) == (24, 0, 0)
    assert counts() == before


def test_identity_number_problems_quote_the_validator(homes, street_staff):
    rows = household_rows("H1", homes.a1x[0], 3)
    good = rows[1][2]
    rows[1][2] = good[:-1] + ("0" if good[-1] != "0" else "1")  # check digit
    rows[2][2] = "110119199002300014"  # 30 February (check digit right for it? no matter)
    job = checked(street_staff, REGISTRY_HEADERS, rows)
    found = problems(job)
    assert (
        3,
        "公民身份号码",
        "The check digit (last character) does not match: please check for a typo.",
    ) in found
    assert any(row == 4 and column == "公民身份号码" for row, column, _ in found)
    assert counts()[0] == 4  # the world's persons only


def test_impossible_birth_date(homes, street_staff):
    from tests.registry.import_fixtures import valid_number

    body_date = "19900230"
    number = valid_number("110119", datetime.date(1990, 2, 1), 11)
    number = number[:6] + body_date + number[14:17]
    from stdnum.cn import ric

    number += ric.calc_check_digit(number + "0")
    rows = household_rows("H1", homes.a1x[0], 1)
    rows[0][2] = number
    job = checked(street_staff, REGISTRY_HEADERS, rows)
    assert problems(job) == [
        (2, "公民身份号码", "The birth date 19900230 in the identity number does not exist.")
    ]


def test_duplicate_person_cites_both_rows(homes, street_staff):
    rows = household_rows("H1", homes.a1x[0], 3) + household_rows("H2", homes.a1x[1], 2)
    rows[4][2] = rows[1][2]  # row 6 repeats row 3's person
    job = checked(street_staff, REGISTRY_HEADERS, rows)
    masked = rows[1][2][:6] + "********" + rows[1][2][-4:]
    expected = f"The identity number {masked} is on several rows (3, 6): keep one."
    assert [(r, c) for r, c, reason in problems(job) if reason == expected] == [
        (3, "公民身份号码"),
        (6, "公民身份号码"),
    ]


def test_unknown_outside_and_empty_addresses(homes, street_staff):
    rows = household_rows("H1", homes.a1x[0], 3)
    rows[0][4] = "香水园路999号"
    rows[1][4] = address(homes.b1x[0])  # a dwelling of street B
    rows[2][4] = ""
    job = checked(street_staff, REGISTRY_HEADERS, rows)
    reasons = {row: reason for row, column, reason in problems(job) if column == "住址"}
    assert reasons[2] == "No dwelling in 香水园街道 has the standard address 香水园路999号."
    # Echoed masked (road and number only): building, unit and room identify a home.
    assert (
        address(homes.b1x[0]).startswith("香水园路1号") and address(homes.b1x[0]) != "香水园路1号"
    )
    assert (
        reasons[3]
        == "The address 香水园路1号 lies outside 香水园街道, the territory of this import."
    )
    assert reasons[4] == "The address is empty."


def test_a_community_import_refuses_the_other_community_of_the_street(homes, street_staff):
    rows = household_rows("H1", homes.a2x[0], 1)
    job = checked(street_staff, REGISTRY_HEADERS, rows, territory="110119001001")
    assert problems(job) == [
        (
            2,
            "住址",
            "The address 香水园路1号 lies outside 香水园社区, the territory of this import.",
        )
    ]


def test_addresses_match_despite_spacing_full_width_digits_and_a_district_prefix(
    homes, street_staff
):
    rows = household_rows("H1", homes.a1x[0], 2)
    text = address(homes.a1x[0])
    rows[0][4] = "北京市延庆区" + text.replace("1", "１").replace("号", " 号 ")
    rows[1][4] = " " + text + " "
    job = checked(street_staff, REGISTRY_HEADERS, rows)
    assert problems(job) == []


def test_relations_and_households(homes, street_staff):
    no_head = household_rows("H1", homes.a1x[0], 2)
    no_head[0][3] = "配偶"
    two_heads = household_rows("H2", homes.a1x[1], 2)
    two_heads[1][3] = "户主"
    unknown = household_rows("H3", homes.a1x[2], 2)
    unknown[1][3] = "邻居"
    split = household_rows("H4", homes.a1x[3], 2)
    split[1][4] = address(homes.a1y[0])
    lonely = [["H5", "", "", "", address(homes.a1y[1])]]  # a household line with no person
    rows = no_head + two_heads + unknown + split + lonely
    found = problems(job := checked(street_staff, REGISTRY_HEADERS, rows))
    assert (2, "与户主关系", "Household H1 has no head (户主) among its 2 rows.") in found
    assert (3, "与户主关系", "Household H1 has no head (户主) among its 2 rows.") in found
    assert (4, "与户主关系", "Household H2 has 2 heads (户主); it must have one.") in found
    assert (5, "与户主关系", "Household H2 has 2 heads (户主); it must have one.") in found
    assert any(r == 7 and c == "与户主关系" and "Unknown relation" in m for r, c, m in found)
    assert (8, "户号", "The rows of household H4 name more than one dwelling.") in found
    assert (9, "户号", "The rows of household H4 name more than one dwelling.") in found
    assert (10, "户号", "Household H5 has no members: no person row carries this 户号.") in found
    assert 6 not in {row for row, *_ in found}  # H3's head is fine
    assert job.error_count == len(found)


def test_a_household_line_beside_its_members_is_fine(homes, street_staff):
    rows = [["H1", "", "", "", address(homes.a1x[0])], *household_rows("H1", homes.a1x[0], 2)]
    assert problems(checked(street_staff, REGISTRY_HEADERS, rows)) == []


def test_required_cells(homes, street_staff):
    rows = household_rows("H1", homes.a1x[0], 2)
    rows[1][0] = ""
    rows[1][3] = ""
    rows[0][1] = ""
    found = problems(checked(street_staff, REGISTRY_HEADERS, rows))
    assert (2, "姓名", "The name is empty.") in found
    assert (3, "户号", "The household number (户号) is empty.") in found
    assert (3, "与户主关系", "The relation to the head (与户主关系) is empty.") in found


def test_sex_and_birth_date_must_agree_with_the_identity_number(homes, street_staff):
    headers = [*REGISTRY_HEADERS, "性别", "出生日期"]
    birth = datetime.date(1975, 11, 3)
    man = identity(birth, male=True)
    rows = [
        ["H1", "王一", man, "户主", address(homes.a1x[0]), "女", "1975-11-03"],
        [
            "H1",
            "王二",
            identity(birth, male=False),
            "配偶",
            address(homes.a1x[0]),
            "女",
            "1975/11/4",
        ],
        ["H1", "王三", identity(birth), "子", address(homes.a1x[0]), "男", "someday"],
        ["H1", "王四", identity(birth), "子", address(homes.a1x[0]), "X", ""],
    ]
    found = problems(checked(street_staff, headers, rows))
    assert found == [
        (2, "性别", "The sex 女 contradicts the identity number, which says Male."),
        (
            3,
            "出生日期",
            "The date of birth 1975/11/4 contradicts the identity number, which says 1975-11-03.",
        ),
        (4, "出生日期", "The date of birth someday is not a date such as 1990-03-07."),
        (5, "性别", "Unknown sex X: write 男 or 女."),
    ]


def test_survey_phone_and_care_groups(homes, street_staff):
    rows = [
        ["王一", identity(), "12345", address(homes.a1x[0]), "户主", ""],
        ["王二", identity(), "66012345", address(homes.a1x[0]), "配偶", "低保"],
        ["王三", identity(), "", address(homes.a1x[0]), "", "低保；火星人"],
        ["王四", identity(), "+86 138 0013 8000", address(homes.a1x[0]), "子", "残疾人、独居老人"],
    ]
    job = checked(street_staff, SURVEY_HEADERS, rows, source=ImportJob.Source.SURVEY)
    found = problems(job)
    assert [(r, c) for r, c, _ in found] == [(2, "联系电话"), (3, "联系电话"), (4, "人员类别")]
    assert "area code" in found[1][2]
    assert "火星人" in found[2][2]
    assert job.created_count == 1


def test_the_predicted_counts_follow_what_is_already_there(homes, street_staff):
    rows = registry_rows(homes.a1x[:2], 2)
    importing.run_import(upload(street_staff, csv_bytes(REGISTRY_HEADERS, rows)))
    changed = [list(row) for row in rows]
    changed[0][1] = "王改名"
    changed += household_rows("H9", homes.a1y[0], 1)
    job = checked(street_staff, REGISTRY_HEADERS, changed)
    assert (job.created_count, job.updated_count, job.unchanged_count) == (1, 1, 3)


def test_a_mapping_without_a_required_column_sends_the_job_back(homes, street_staff):
    job = upload(street_staff, csv_bytes(["户号", "姓名", "住址"], [["H1", "王", "x"]]))
    job = importing.check(job)
    assert job.state == ImportJob.State.UPLOADED
    assert "Choose the column for Identity number" in job.message


def test_a_cancelled_dry_run_stops_and_keeps_its_state(homes, street_staff, monkeypatch):
    job = upload(street_staff, csv_bytes(REGISTRY_HEADERS, registry_rows(homes.street_a)))
    monkeypatch.setattr(importing, "CHUNK_ROWS", 5)
    real = importing.validate

    def cancel_midway(plan, facts, batch):
        if batch[0][0] > 5:
            importing.cancel_import(street_staff, job)
        return real(plan, facts, batch)

    monkeypatch.setattr(importing, "validate", cancel_midway)
    job = importing.check(job)
    assert job.state == ImportJob.State.CANCELLED
    assert job.processed_rows == 5


@pytest.mark.parametrize("source", [ImportJob.Source.REGISTRY, ImportJob.Source.SURVEY])
def test_rows_are_counted_before_the_dry_run_and_exactly_after(homes, street_staff, source):
    headers = REGISTRY_HEADERS if source == "registry" else SURVEY_HEADERS
    job = upload(street_staff, csv_bytes(headers, [["x"] * len(headers)] * 7), source=source)
    assert job.total_rows == 7
    job = importing.check(job)
    assert job.total_rows == job.processed_rows == 7

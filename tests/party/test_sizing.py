"""The form-by-size rule at its boundaries (domain.md §6: 3 → 支部, 50 → 总支, 100 → 党委)."""

from __future__ import annotations

import pytest

from jiedao.party.models import Form
from jiedao.party.sizing import form_by_size, size_flags


def codes(form: str, members: int, full: int | None = None) -> list[str]:
    return [flag.code for flag in size_flags(form, members, full)]


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        (0, Form.GROUP),
        (2, Form.GROUP),
        (3, Form.BRANCH),
        (49, Form.BRANCH),
        (50, Form.GENERAL_BRANCH),
        (99, Form.GENERAL_BRANCH),
        (100, Form.COMMITTEE),
        (438, Form.COMMITTEE),
    ],
)
def test_the_highest_form_each_size_provides_for(members, expected):
    assert form_by_size(members) == expected


def test_the_three_member_floor_counts_full_members_only():
    assert form_by_size(60, full_members=2) == Form.GROUP
    assert codes(Form.BRANCH, 3, full=2) == ["too_few_for_branch"]
    assert codes(Form.BRANCH, 3, full=3) == []


@pytest.mark.parametrize(
    ("form", "members", "expected"),
    [
        (Form.BRANCH, 2, ["too_few_for_branch"]),
        (Form.BRANCH, 3, []),
        (Form.BRANCH, 49, []),
        (Form.BRANCH, 50, ["may_form_general_branch"]),
        (Form.BRANCH, 99, ["may_form_general_branch"]),
        (Form.BRANCH, 100, ["may_form_committee"]),
        (Form.GENERAL_BRANCH, 2, ["too_few_for_branch"]),
        (Form.GENERAL_BRANCH, 49, ["general_branch_below_50"]),
        (Form.GENERAL_BRANCH, 50, []),
        (Form.GENERAL_BRANCH, 99, []),
        (Form.GENERAL_BRANCH, 100, ["may_form_committee"]),
        # s000: 新兴西社区党总支, 438 members in 7 branches, "must" become a 社区党委.
        (Form.GENERAL_BRANCH, 438, ["may_form_committee"]),
        (Form.COMMITTEE, 99, ["committee_below_100"]),
        (Form.COMMITTEE, 100, []),
        (Form.COMMITTEE, 438, []),
    ],
)
def test_flags_at_the_boundaries(form, members, expected):
    assert codes(form, members) == expected


@pytest.mark.parametrize("form", [Form.WORKING_COMMITTEE, Form.GROUP])
@pytest.mark.parametrize("members", [0, 2, 50, 438])
def test_working_committees_and_party_groups_are_not_sized(form, members):
    assert size_flags(form, members) == []


def test_each_flag_cites_the_regulation_and_its_threshold():
    [committee] = size_flags(Form.GENERAL_BRANCH, 438)
    assert committee.severity == "suggest"
    assert "《中国共产党基层组织工作条例》" in committee.citation
    assert "100 or more members" in committee.citation and "党委" in committee.citation
    [few] = size_flags(Form.BRANCH, 2)
    assert few.severity == "act" and "3 or more full members" in few.citation
    [general] = size_flags(Form.BRANCH, 50)
    assert "50 or more members" in general.citation


@pytest.mark.parametrize(("members", "full"), [(-1, None), (5, 6), (5, -1)])
def test_impossible_counts_are_refused(members, full):
    with pytest.raises(ValueError):
        size_flags(Form.BRANCH, members, full)
    with pytest.raises(ValueError):
        form_by_size(members, full)

from __future__ import annotations

import contextlib

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from jiedao.territory import codes


@pytest.mark.parametrize("code", ["110119000000", "330282000000"])
def test_valid_district_codes(code):
    codes.validate_district_code(code)


@pytest.mark.parametrize(
    "code", ["110100000000", "11011900000", "110119001000", "11011900000x", ""]
)
def test_invalid_district_codes(code):
    with pytest.raises(ValidationError):
        codes.validate_district_code(code)


def test_street_must_sit_in_its_district():
    codes.validate_street_code("110119001000", "110119000000")
    with pytest.raises(ValidationError):
        codes.validate_street_code("110118001000", "110119000000")
    with pytest.raises(ValidationError):
        codes.validate_street_code("110119000000")  # street digits 000
    with pytest.raises(ValidationError):
        codes.validate_street_code("110119001001")  # that is a community


def test_community_must_sit_in_its_street():
    codes.validate_community_code("110119001001", "110119001000")
    with pytest.raises(ValidationError):
        codes.validate_community_code("110119002001", "110119001000")
    with pytest.raises(ValidationError):
        codes.validate_community_code("110119001000")


def test_grid_code_appends_three_digits_to_the_community():
    assert codes.grid_code("110119001001", 7) == "110119001001007"
    codes.validate_grid_code("110119001001007", "110119001001")
    for bad in ("110119001001000", "11011900100107", "110119001001007x"):
        with pytest.raises(ValidationError):
            codes.validate_grid_code(bad)
    with pytest.raises(ValidationError):
        codes.grid_code("110119001001", 1000)


@pytest.mark.parametrize(
    ("code", "prefix"),
    [
        ("110119000000", "110119"),
        ("110119001000", "110119001"),
        ("110119001001", "110119001001"),
        ("110119001001002", "110119001001002"),
    ],
)
def test_scope_prefix(code, prefix):
    assert codes.scope_prefix(code) == prefix


@given(st.text(max_size=20))
def test_validators_never_crash_on_garbage(text):
    for validate in (
        codes.validate_district_code,
        codes.validate_street_code,
        codes.validate_community_code,
        codes.validate_grid_code,
    ):
        with contextlib.suppress(ValidationError):
            validate(text)

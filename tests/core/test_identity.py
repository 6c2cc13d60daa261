"""Resident identity numbers (stdnum.cn.ric) and mainland phone numbers."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from jiedao.core.identity import (
    is_mobile,
    parse_identity_number,
    validate_identity_number,
    validate_phone,
)


def with_check_digit(prefix17: str) -> str:
    # calc_check_digit ignores the last character it is given (it expects a full number).
    return prefix17 + ric.calc_check_digit(prefix17 + "0")


def error_code(value: str, validator=parse_identity_number) -> str:
    with pytest.raises(ValidationError) as info:
        validator(value)
    return info.value.code or ""


def test_a_valid_number_tells_birth_date_and_sex():
    number = with_check_digit("11010119900307123")  # 17th digit 3: odd, male
    resident = parse_identity_number(number)
    assert resident.number == number
    assert resident.birth_date == datetime.date(1990, 3, 7)
    assert resident.sex == "male" and resident.is_male
    assert resident.region_code == "110101"
    female = parse_identity_number(with_check_digit("33010619851231002"))
    assert female.sex == "female" and female.birth_date == datetime.date(1985, 12, 31)


def test_stdnum_documented_example_validates():
    assert validate_identity_number("360426199101010071") == "360426199101010071"


def test_lowercase_x_and_spaces_are_accepted_and_normalised():
    prefix = next(
        f"1101011990030712{d}"
        for d in range(10)
        if with_check_digit(f"1101011990030712{d}").endswith("X")
    )
    number = with_check_digit(prefix)
    assert validate_identity_number(" " + number.lower()[:6] + " " + number.lower()[6:]) == number


def test_full_width_digits_from_an_ime_are_accepted():
    number = with_check_digit("11010119900307123")
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)
    assert validate_identity_number(full_width) == number
    assert validate_phone("１３８ ００１３ ８０００") == "13800138000"


def test_wrong_check_digit():
    number = with_check_digit("11010119900307123")
    wrong = number[:-1] + ("1" if number[-1] != "1" else "2")
    assert error_code(wrong) == "identity_check_digit"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("11010119900307123", "identity_length"),
        ("1101011990030712345", "identity_length"),
        ("", "identity_length"),
        ("110101199003071", "identity_length"),  # first-generation 15-digit cards are not accepted
        ("11010119900307A234", "identity_characters"),
        ("1101011990030712Y4", "identity_characters"),
        ("11010119900307123Y", "identity_characters"),
    ],
)
def test_malformed_numbers(value, code):
    assert error_code(value) == code


@pytest.mark.parametrize(
    ("prefix17", "reason"),
    [
        ("11010119000229123", "does not exist"),  # 1900 was not a leap year
        ("11010119900230123", "does not exist"),
        ("11010119901301123", "does not exist"),
        ("11010118991231123", "before 1900"),
    ],
)
def test_impossible_birth_dates(prefix17, reason):
    with pytest.raises(ValidationError, match=reason) as info:
        parse_identity_number(with_check_digit(prefix17))
    assert info.value.code == "identity_birth_date"


def test_future_birth_date():
    tomorrow = datetime.date.today() + datetime.timedelta(days=2)
    number = with_check_digit(f"110101{tomorrow:%Y%m%d}123")
    with pytest.raises(ValidationError, match="in the future"):
        parse_identity_number(number)
    assert parse_identity_number(with_check_digit("11010120000229123")).birth_date.day == 29


birth_dates = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date.today())


@given(
    region=st.from_regex(r"[1-9][0-9]{5}", fullmatch=True),
    birth_date=birth_dates,
    order=st.integers(min_value=0, max_value=999),
)
def test_any_prefix_with_a_real_date_validates(region, birth_date, order):
    number = with_check_digit(f"{region}{birth_date:%Y%m%d}{order:03d}")
    resident = parse_identity_number(number)
    assert resident.birth_date == birth_date
    assert resident.sex == ("male" if order % 2 else "female")
    assert parse_identity_number(number.lower()) == resident


@given(st.text(max_size=30))
def test_random_text_never_crashes(value):
    try:
        resident = parse_identity_number(value)
    except ValidationError as exc:
        assert exc.code and exc.code.startswith("identity_")
    else:
        assert len(resident.number) == 18


@given(st.from_regex(r"[0-9]{17}[0-9X]", fullmatch=True))
def test_random_numbers_either_validate_or_say_why(value):
    try:
        parse_identity_number(value)
    except ValidationError as exc:
        assert exc.code in {"identity_check_digit", "identity_birth_date"}


# --- phones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0086-138-0013-8000", "13800138000"),
        ("86 19912345678", "19912345678"),
        ("010-12345678", "01012345678"),
        ("(0571) 8800 1234", "057188001234"),
        ("0571-8800123", "05718800123"),
        ("+86 0571 88001234", "057188001234"),
        ("+86 21 6123 4567", "02161234567"),
    ],
)
def test_valid_phones_are_normalised(value, expected):
    assert validate_phone(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "phone_empty"),
        ("abc", "phone_empty"),
        ("88001234", "phone_area_code"),
        ("8800123", "phone_area_code"),
        ("12800138000", "phone_invalid"),  # 12x is not a mobile prefix
        ("1380013800", "phone_invalid"),  # ten digits
        ("138001380001", "phone_invalid"),
        ("0571-88", "phone_invalid"),
    ],
)
def test_invalid_phones(value, code):
    assert error_code(value, validate_phone) == code


def test_is_mobile():
    assert is_mobile("+86 138 0013 8000")
    assert not is_mobile("010-12345678")


@given(st.text(max_size=25))
def test_random_phones_never_crash(value):
    try:
        assert validate_phone(value).isdigit()
    except ValidationError as exc:
        assert exc.code in {"phone_empty", "phone_area_code", "phone_invalid"}

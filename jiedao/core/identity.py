"""Validation of resident identity numbers (居民身份证号) and mainland phone numbers.

Both functions work as Django validators (they raise ValidationError with a code per reason)
and return the normalised value, so forms and imports store one spelling and index it with
``crypto.blind_index``.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from jiedao.core.crypto import normalise_phone

EARLIEST_BIRTH_YEAR = 1900
_BODY = re.compile(r"[0-9]{17}[0-9X]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# 010 and 02x are three-digit area codes followed by 8 digits; the others have four digits
# and a 7- or 8-digit local number.
_LANDLINE = re.compile(r"0(?:10|2[0-9])[0-9]{8}|0[3-9][0-9]{2}[0-9]{7,8}")


@dataclass(frozen=True)
class ResidentId:
    number: str  # 18 characters, upper-case X
    birth_date: datetime.date
    sex: str  # "male" or "female": the 17th digit, odd for men
    region_code: str  # first six digits (place of first registration)

    @property
    def is_male(self) -> bool:
        return self.sex == "male"


def parse_identity_number(value: str) -> ResidentId:
    """The checked number and what it tells; ValidationError with a clear reason otherwise.

    The region code is not checked against stdnum's place list: that list lags behind
    administrative changes and would reject real residents."""
    number = ric.compact("".join(str(value or "").split()))
    if len(number) != 18:
        raise ValidationError(
            _("An identity number has 18 characters; this one has %(count)d."),
            code="identity_length",
            params={"count": len(number)},
        )
    if not _BODY.fullmatch(number):
        raise ValidationError(
            _("An identity number is 17 digits followed by a digit or X."),
            code="identity_characters",
        )
    if number[-1] != ric.calc_check_digit(number):
        raise ValidationError(
            _("The check digit (last character) does not match: please check for a typo."),
            code="identity_check_digit",
        )
    birth_date = _birth_date(number)
    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return ResidentId(number=number, birth_date=birth_date, sex=sex, region_code=number[:6])


def _birth_date(number: str) -> datetime.date:
    try:
        birth_date = ric.get_birth_date(number)
    except StdnumError as exc:
        raise ValidationError(
            _("The birth date %(date)s in the identity number does not exist."),
            code="identity_birth_date",
            params={"date": number[6:14]},
        ) from exc
    if birth_date.year < EARLIEST_BIRTH_YEAR:
        raise ValidationError(
            _("The birth date %(date)s in the identity number is before 1900."),
            code="identity_birth_date",
            params={"date": birth_date.isoformat()},
        )
    if birth_date > timezone.localdate():
        raise ValidationError(
            _("The birth date %(date)s in the identity number is in the future."),
            code="identity_birth_date",
            params={"date": birth_date.isoformat()},
        )
    return birth_date


def validate_identity_number(value: str) -> str:
    """Django validator form: the normalised number (upper-case X, no spaces)."""
    return parse_identity_number(value).number


def validate_phone(value: str) -> str:
    """A mainland mobile (1[3-9] and 9 digits) or a landline with its area code, as digits
    only (+86 / 0086 and separators dropped)."""
    digits = normalise_phone(str(value or ""))
    if not digits:
        raise ValidationError(_("Enter a phone number."), code="phone_empty")
    if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
        return digits
    if digits[0] != "0" and len(digits) in (7, 8):
        raise ValidationError(
            _("A landline number needs its area code, for example 0571-88001234."),
            code="phone_area_code",
        )
    raise ValidationError(
        _(
            "Enter an 11-digit mobile number (starting 13-19) or a landline with its area "
            "code, for example 0571-88001234."
        ),
        code="phone_invalid",
    )


def is_mobile(number: str) -> bool:
    return bool(_MOBILE.fullmatch(normalise_phone(number)))


def make_identity_number(region_code: str, birth_date: datetime.date, serial: int) -> str:
    """A well-formed number for generated data (demo world, tests, benchmarks): six-digit region,
    birth date, a three-digit sequence whose last digit is odd for men, and the check digit."""
    body = f"{region_code[:6]}{birth_date:%Y%m%d}{serial % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum wants the check digit's place

"""统计用区划代码 (12 digits: 6 county + 3 street + 3 community) and grid codes (domain.md §1)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

TWELVE_DIGITS = re.compile(r"^\d{12}$")
GRID_SUFFIX_DIGITS = 3


def validate_district_code(code: str) -> None:
    _twelve(code)
    if code[6:] != "000000" or code[4:6] == "00" or code[:2] == "00":
        raise ValidationError(
            _(
                "A district code is 6 county digits (GB/T 2260) followed by 000000, e.g. 110119000000."
            ),
            code="district_code",
        )


def validate_street_code(code: str, district_code: str | None = None) -> None:
    _twelve(code)
    if code[9:] != "000" or code[6:9] == "000":
        raise ValidationError(
            _("A street code is its district's 6 digits, 3 street digits (not 000) and 000."),
            code="street_code",
        )
    if district_code and code[:6] != district_code[:6]:
        raise ValidationError(
            _("The street code must start with its district's code."), code="street_parent"
        )


def validate_community_code(code: str, street_code: str | None = None) -> None:
    _twelve(code)
    if code[9:] == "000" or code[6:9] == "000":
        raise ValidationError(
            _("A community code is its street's 9 digits followed by 3 digits (not 000)."),
            code="community_code",
        )
    if street_code and code[:9] != street_code[:9]:
        raise ValidationError(
            _("The community code must start with its street's code."), code="community_parent"
        )


def validate_grid_code(code: str, community_code: str | None = None) -> None:
    if not re.fullmatch(rf"[0-9]{{{12 + GRID_SUFFIX_DIGITS}}}", code) or code.endswith("000"):
        raise ValidationError(
            _("A grid code is its community's 12 digits followed by 3 digits (not 000)."),
            code="grid_code",
        )
    validate_community_code(code[:12])
    if community_code and code[:12] != community_code:
        raise ValidationError(
            _("The grid code must start with its community's code."), code="grid_parent"
        )


def grid_code(community_code: str, number: int) -> str:
    if not 1 <= number < 10**GRID_SUFFIX_DIGITS:
        raise ValidationError(_("A community has at most 999 grids."), code="grid_number")
    return f"{community_code}{number:0{GRID_SUFFIX_DIGITS}d}"


def scope_prefix(code: str) -> str:
    """The prefix that every code inside this node starts with."""
    if len(code) > 12:
        return code
    if code.endswith("000000"):
        return code[:6]
    if code.endswith("000"):
        return code[:9]
    return code


def _twelve(code: str) -> None:
    if not TWELVE_DIGITS.match(code or ""):
        raise ValidationError(_("Division codes have exactly 12 digits."), code="twelve_digits")

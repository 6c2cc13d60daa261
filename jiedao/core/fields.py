"""EncryptedTextField and the masks used to show personal data (domain.md §10).

Conventions (not enforced by the field, see docs/personal-data.md):
- exclude encrypted fields from audit snapshots (``snapshot(obj, exclude=(...))``): the trail
  must not become a plaintext copy of what the table protects; log the reveal instead;
- show ``mask(kind, value)`` by default; the plaintext only after a permission check, a reason
  and ``log_sensitive_read``;
- search through a separate blind index column (``crypto.blind_index``), never this column.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact, IsNull

from jiedao.core.crypto import KINDS, decrypt, encrypt, normalise_phone


class EmptyOnlyExact(Exact):
    """``field=""`` works (empty is stored as empty); any other value cannot match a random-IV
    ciphertext, so asking for it is a programming error, not an empty result."""

    def get_prep_lookup(self) -> Any:
        if self.rhs != "":
            raise FieldError(
                f"{self.lhs.target.name} is encrypted: exact lookups only work with ''. "
                "Search through its blind index column instead."
            )
        return super().get_prep_lookup()


class EncryptedTextField(models.TextField):
    """Ciphertext (a Fernet token) in the database, plaintext in Python.

    ``kind`` (identity, phone, name, address, text) and ``blind_index_field`` (the name of a
    CharField(max_length=64, db_index=True) on the same model holding ``blind_index(kind, ...)``)
    are optional; when both are set, ``rotate_field_key`` recomputes the index with the token."""

    description = "Encrypted text"

    def __init__(
        self, *args: Any, kind: str = "text", blind_index_field: str = "", **kwargs: Any
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"Unknown kind {kind!r}; use one of {', '.join(KINDS)}.")
        self.kind = kind
        self.blind_index_field = blind_index_field
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.kind != "text":
            kwargs["kind"] = self.kind
        if self.blind_index_field:
            kwargs["blind_index_field"] = self.blind_index_field
        return name, path, args, kwargs

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None:
            return None
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return None
        return encrypt(str(value))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return IsNull
        if lookup_name == "exact":
            return EmptyOnlyExact
        raise FieldError(
            f"{self.name} is encrypted: the '{lookup_name}' lookup cannot work on ciphertext "
            "(only isnull and exact ''). Search through its blind index column instead."
        )

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(f"{self.name} is encrypted: no transforms ('{lookup_name}').")


MASK = "*"
_ROAD = re.compile(r"(大道|路|街|巷|弄|胡同)\s*(\d+(?:-\d+)?)\s*号")
# A road name ends, going leftwards, at an administrative level or a separator.
_ROAD_STOPS = set("省市区县镇乡村道,，、;；") | {" ", "\t", "\n"}


def mask_identity(value: str) -> str:
    """110101********1234: region and last four, enough to tell two people apart on a list."""
    value = "".join((value or "").split()).upper()
    if len(value) < 11:
        return MASK * len(value)
    return value[:6] + MASK * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """138****5678 (a landline 010****5678 alike)."""
    digits = normalise_phone(value)
    if len(digits) < 8:
        return MASK * len(digits)
    return digits[:3] + MASK * (len(digits) - 7) + digits[-4:]


def mask_name(value: str) -> str:
    """王*明 (first and last kept), 王* for two characters, * for one."""
    value = (value or "").strip()
    if len(value) <= 1:
        return MASK * len(value)
    if len(value) == 2:
        return value[0] + MASK
    return value[0] + MASK * (len(value) - 2) + value[-1]


def mask_address(value: str) -> str:
    """Road and number only (文三路123号): building, unit and room are what identify a home."""
    match = _ROAD.search(value or "")
    if match is None:
        return MASK * 4 if value else ""
    start = match.start()
    while start > 0 and match.start() - start < 12 and value[start - 1] not in _ROAD_STOPS:
        start -= 1
    return f"{value[start : match.end(1)]}{match.group(2)}号"


_MASKS = {
    "identity": mask_identity,
    "phone": mask_phone,
    "name": mask_name,
    "address": mask_address,
}


def mask(kind: str, value: str | None) -> str:
    """The default display of a personal value; "" stays "" (nothing to hide)."""
    if not value:
        return ""
    if kind == "text":
        return MASK * 4
    if kind not in _MASKS:
        raise ValueError(f"Unknown kind {kind!r}; use one of {', '.join(KINDS)}.")
    return _MASKS[kind](value)


# A run of seven or more digits (spaces, dashes, a leading + allowed, an X at the end): a phone
# or an identity number typed into a search box or a filter.
_NUMBER_RUN = re.compile(r"\+?[0-9０-９](?:[0-9０-９ \-]{5,}[0-9０-９xX])")


def redact_numbers(text: str) -> str:
    """``text`` with every phone- or identity-number-like run masked, for what is kept in logs
    and the audit trail (a search term, a query string)."""

    def masked(match: re.Match[str]) -> str:
        run = match.group(0)
        compact = "".join(ch for ch in run if ch not in " -")
        if len(compact) == 18 and compact[0] != "+":
            return mask("identity", compact)
        digits = normalise_phone(compact)
        if (len(digits) == 11 and digits[0] == "1") or (digits[:1] == "0" and len(digits) > 9):
            return mask("phone", digits)
        return run  # a territory code, a case number: not personal

    return _NUMBER_RUN.sub(masked, text or "")

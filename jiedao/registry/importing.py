"""Import of the two population sources (docs/registry-import.md): the public-security
household-registration extract (``registry``) and the door-to-door survey (``survey``), as CSV
or XLSX.

Reading streams the file (an incremental text decoder under ``csv``, openpyxl's read-only mode),
so memory does not grow with the file. Row numbers are spreadsheet rows: the header is row 1 and
the first person is row 2, as Excel and WPS show them.

A run makes two passes over the file: the first collects what needs the whole file (identity
numbers on several rows, households without a head), the second validates each row and, for an
import, writes chunks of ``CHUNK_ROWS`` rows, each in one transaction with the job's checkpoint.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import hashlib
import io
import json
import os
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import reset_queries, transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from jiedao.accounts.roles import REGISTRY_IMPORTERS
from jiedao.audit.services import log_action
from jiedao.core.crypto import blind_index, blind_index_candidates
from jiedao.core.fields import mask
from jiedao.core.identity import parse_identity_number, validate_phone
from jiedao.core.pinyin import initials
from jiedao.core.scopes import Scope, code_within, unscoped
from jiedao.core.selectors import role_scope
from jiedao.registry.care import follow_person_territory
from jiedao.registry.models import (
    CareGroup,
    CareTag,
    Household,
    ImportJob,
    ImportRowError,
    Person,
    PersonVersion,
)
from jiedao.registry.services import (
    fill_derived,
    new_version,
    person_changes,
    tracked_values,
)
from jiedao.territory import codes
from jiedao.territory.models import Community, Dwelling, StandardAddress, Street

REGISTRY = ImportJob.Source.REGISTRY
SURVEY = ImportJob.Source.SURVEY
CHUNK_ROWS = 2000
READ_BYTES = 256 * 1024
MAX_LINE_CHARS = 1024 * 1024  # a longer physical line is not a table (and would fill memory)
MAX_COLUMNS = 200
TITLE_ROWS = 10  # rows above the header that may hold a title (fewer than two cells filled)
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls
ERRORS_CITED = 10  # row numbers cited in one duplicate message


class ImportFileError(Exception):
    """The file cannot be read as a table; the message says why, in the user's language."""


class Superseded(Exception):
    """Another run of the same job (a resume, a restarted dry run) or a cancel took over."""


def max_upload_bytes() -> int:
    return int(getattr(settings, "JIEDAO_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


# --- Reading -----------------------------------------------------------------------------------


@dataclass
class RowReader:
    """Headers and an iterator of ``(row_number, values)``: spreadsheet row numbers (header =
    row 1 unless title rows precede it), values stripped strings padded to the headers' length.
    Blank rows are skipped (their numbers are not reused). Use as a context manager."""

    kind: str  # "csv" or "xlsx"
    encoding: str  # "" for XLSX
    headers: list[str]
    header_row: int
    estimated_rows: int | None
    _rows: Iterator[tuple[int, list[str]]]
    _close: Callable[[], None]

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        return self._rows

    def close(self) -> None:
        self._close()

    def __enter__(self) -> RowReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_rows(source: Any, *, name: str = "", encoding: str = "") -> RowReader:
    """A reader over a CSV or XLSX file: a path, or a binary file object (an upload, a
    FieldFile). The kind is told by the content (a zip is XLSX); ``encoding`` skips the detection
    pass when the job already knows it. Raises ImportFileError with a clear reason."""
    binary, owned = _binary(source)
    try:
        name = (name or _name_of(source)).lower()
        head = binary.read(8)
        binary.seek(0)
        if head.startswith(ZIP_MAGIC):
            return _open_xlsx(binary, owned)
        if head.startswith(OLE_MAGIC):
            raise ImportFileError(
                _("This is an old Excel file (.xls): save it as .xlsx or CSV and upload that.")
            )
        if _looks_like_html(binary):
            raise ImportFileError(
                _(
                    "This is a web page (HTML) saved under a spreadsheet's name: open it in "
                    "Excel or WPS and save it as .xlsx or CSV."
                )
            )
        if name.endswith((".xlsx", ".xlsm")):
            raise ImportFileError(
                _("This is not a valid XLSX file: it may be damaged or cut off. Save it again.")
            )
        if not head:
            raise ImportFileError(_("The file is empty."))
        return _open_csv(binary, owned, encoding or detect_encoding(binary))
    except BaseException:
        if owned:
            binary.close()
        raise


def _looks_like_html(binary: IO[bytes]) -> bool:
    start = binary.read(512).lstrip(codecs.BOM_UTF8).lstrip().lower()
    binary.seek(0)
    return start.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml"))


def _binary(source: Any) -> tuple[IO[bytes], bool]:
    if isinstance(source, str | os.PathLike):
        return open(source, "rb"), True
    if getattr(source, "closed", False) and hasattr(source, "open"):
        source.open("rb")
    inner = source
    while hasattr(inner, "file") and hasattr(inner, "chunks"):  # Django File wrappers
        inner = inner.file
    inner.seek(0)
    return inner, False


def _name_of(source: Any) -> str:
    if isinstance(source, str | os.PathLike):
        return str(source)
    return str(getattr(source, "name", "") or "")


def detect_encoding(binary: IO[bytes]) -> str:
    """``utf-8-sig`` (BOM), ``utf-16`` (BOM), ``utf-8`` when the whole stream decodes strictly,
    else ``gb18030`` (a superset of GBK and GB2312). Reads in chunks; leaves the file at 0."""
    return inspect_bytes(binary)[1]


def inspect_bytes(binary: IO[bytes]) -> tuple[str, str]:
    """SHA-256 of the whole file and its text encoding, in one pass (two for GB18030)."""
    digest = hashlib.sha256()
    binary.seek(0)
    first = binary.read(READ_BYTES)
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif first.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    else:
        candidates = ["utf-8", "gb18030"]
    failure = _decode_all(binary, first, candidates[0], digest)
    if failure is None:
        return digest.hexdigest(), candidates[0]
    if failure == "truncated" or len(candidates) == 1:
        _raise_undecodable(failure)
    second = _decode_all(binary, binary.read(READ_BYTES), candidates[1], None)
    if second is not None:
        # Point at the line of the encoding that got further: the file is most likely that.
        _raise_undecodable(max(failure, second) if isinstance(second, int) else second)
    return digest.hexdigest(), candidates[1]


def _decode_all(binary: IO[bytes], chunk: bytes, encoding: str, digest: Any) -> str | int | None:
    """None when every byte decodes; "truncated" when only the end is cut mid-character; else
    the line number where decoding failed. Hashes every byte when given a digest."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    lines, failed = 1, 0
    while chunk:
        if digest is not None:
            digest.update(chunk)
        if not failed:
            if b"\x00" in chunk and encoding != "utf-16":
                raise ImportFileError(
                    _("The file contains binary data (NUL bytes): it is not a CSV or XLSX file.")
                )
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                failed = lines + chunk.count(b"\n", 0, max(exc.start, 0))
                if digest is None:
                    break
            lines += chunk.count(b"\n")
        chunk = binary.read(READ_BYTES)
    binary.seek(0)
    if failed:
        return failed
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "truncated"
    return None


def _raise_undecodable(failure: str | int) -> None:
    if failure == "truncated":
        raise ImportFileError(
            _(
                "The file ends in the middle of a character: it seems cut off (truncated). "
                "Upload the complete file."
            )
        )
    raise ImportFileError(
        _(
            "The file is neither UTF-8 nor GB18030/GBK text: line %(line)d cannot be read. "
            "Is it really a CSV or XLSX file? Save it again as “CSV UTF-8” and upload that."
        )
        % {"line": failure}
    )


def _open_csv(binary: IO[bytes], owned: bool, encoding: str) -> RowReader:
    text = io.TextIOWrapper(binary, encoding=encoding, errors="strict", newline="")

    def close() -> None:
        if owned:
            text.close()
        else:
            text.detach()  # the caller's file stays open

    try:
        delimiter = _delimiter(binary, encoding)
        records = _csv_records(text, delimiter)
        header_row, headers = _header(records)
    except BaseException:
        close()
        raise
    return RowReader(
        "csv", encoding, headers, header_row, None, _data_rows(records, len(headers)), close
    )


def _delimiter(binary: IO[bytes], encoding: str) -> str:
    """Comma, tab or semicolon: whichever the first line has most of (comma on a tie)."""
    start = binary.tell()
    sample = binary.read(64 * 1024).decode(encoding, errors="ignore")
    binary.seek(start)
    line = sample.lstrip("\ufeff").split("\n", 1)[0]
    return max([",", "\t", ";"], key=line.count)


def _lines(text: io.TextIOWrapper) -> Iterator[str]:
    while line := text.readline(MAX_LINE_CHARS):
        if len(line) == MAX_LINE_CHARS and not line.endswith("\n"):
            raise ImportFileError(
                _("A line of the file is longer than %(n)d characters: it is not a table.")
                % {"n": MAX_LINE_CHARS}
            )
        yield line


def _csv_records(text: io.TextIOWrapper, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(_lines(text), delimiter=delimiter)
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(
                _("Row %(row)d is not well-formed CSV (check its quotes): %(reason)s")
                % {"row": number + 1, "reason": exc}
            ) from exc
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                _("Row %(row)d cannot be decoded: the file mixes text encodings.")
                % {"row": number + 1}
            ) from exc
        number += 1
        yield number, record


def _header(records: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str]]:
    """The first row with at least two filled cells (a title row above it is skipped)."""
    for number, values in records:
        cells = [_clean_cell(value) for value in values]
        if sum(1 for cell in cells if cell) >= 2:
            while cells and not cells[-1]:
                cells.pop()
            if len(cells) > MAX_COLUMNS:
                raise ImportFileError(
                    _("The file has %(n)d columns; at most %(max)d can be imported.")
                    % {"n": len(cells), "max": MAX_COLUMNS}
                )
            return number, [cell[:100] for cell in cells]
        if number >= TITLE_ROWS:
            break
    raise ImportFileError(
        _("No header row found: the first row must hold the column names (姓名, 公民身份号码, …).")
    )


def _data_rows(
    records: Iterator[tuple[int, Iterable[Any]]], width: int
) -> Iterator[tuple[int, list[str]]]:
    for number, values in records:
        cells = [_clean_cell(value) for _, value in zip(range(width), values, strict=False)]
        if any(cells):
            yield number, cells + [""] * (width - len(cells))


def _clean_cell(value: Any) -> str:
    """A cell as stripped text: Excel numbers without ".0", dates as YYYY-MM-DD, no NUL."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = value.date() if value.time() == datetime.time() else value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        value = value.isoformat()
    elif isinstance(value, float) and value.is_integer():
        value = str(int(value))
    return str(value).replace("\x00", "").strip()


def _open_xlsx(binary: IO[bytes], owned: bool) -> RowReader:
    try:
        book = load_workbook(binary, read_only=True, data_only=True)
    except Exception as exc:  # a damaged zip or XML fails in many ways inside openpyxl
        raise ImportFileError(
            _("This is not a valid XLSX file: it may be damaged or cut off. Save it again.")
        ) from exc

    def close() -> None:
        book.close()
        if owned:
            binary.close()

    try:
        if not book.worksheets:
            raise ImportFileError(_("The workbook has no worksheet."))
        sheet = book.worksheets[0]
        estimate = getattr(sheet, "max_row", None)
        sheet.reset_dimensions()  # read-only sheets trust a wrong <dimension>
        records = _xlsx_records(sheet.iter_rows(values_only=True))
        header_row, headers = _header(records)
    except BaseException:
        close()
        raise
    estimated = max(estimate - header_row, 0) if estimate else None
    rows = _data_rows(records, len(headers))
    return RowReader("xlsx", "", headers, header_row, estimated, rows, close)


def _xlsx_records(rows: Iterator[Any]) -> Iterator[tuple[int, list[Any]]]:
    number = 0
    while True:
        try:
            values = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # damaged XML or zip members, as at opening
            raise ImportFileError(
                _("This XLSX file is damaged after row %(row)d: save it again.") % {"row": number}
            ) from exc
        number += 1
        yield number, list(values)


def count_rows(reader: RowReader) -> int:
    return sum(1 for _ in reader)


# --- Fields and mapping ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportField:
    key: str
    label: Any
    required: frozenset[str]  # the sources that must map it
    synonyms: tuple[str, ...]


def _field(key: str, label: Any, required: bool, synonyms: str, source: str) -> ImportField:
    return ImportField(key, label, frozenset({source} if required else ()), tuple(synonyms.split()))


_NAME = "姓名 名字 name"
_IDENTITY = "公民身份号码 身份证号 身份证号码 证件号码 公民身份证号 身份证 identitynumber idnumber"
_RELATION = "与户主关系 户主关系 关系 relation"
_SEX = "性别 sex gender"
_BIRTH = "出生日期 出生年月日 生日 birthdate dateofbirth"
FIELDS: dict[str, tuple[ImportField, ...]] = {
    REGISTRY: (
        _field(
            "household_number",
            gettext_lazy("Household number (户号)"),
            True,
            "户号 户编号 户籍户号 householdnumber household",
            REGISTRY,
        ),
        _field("name", gettext_lazy("Name (姓名)"), True, _NAME, REGISTRY),
        _field(
            "identity_number",
            gettext_lazy("Identity number (公民身份号码)"),
            True,
            _IDENTITY,
            REGISTRY,
        ),
        _field(
            "relation",
            gettext_lazy("Relation to the head (与户主关系)"),
            True,
            _RELATION,
            REGISTRY,
        ),
        _field(
            "address",
            gettext_lazy("Dwelling where registered (standard address)"),
            True,
            "标准地址 房屋地址 住址 地址 现住址 address",
            REGISTRY,
        ),
        _field(
            "registered_address",
            gettext_lazy("Registered address text (户籍地址), if another column"),
            False,
            "户籍地址 户籍详址 户籍住址 户籍所在地 registeredaddress",
            REGISTRY,
        ),
        _field("sex", gettext_lazy("Sex (性别)"), False, _SEX, REGISTRY),
        _field("birth_date", gettext_lazy("Date of birth (出生日期)"), False, _BIRTH, REGISTRY),
    ),
    SURVEY: (
        _field("name", gettext_lazy("Name (姓名)"), True, _NAME, SURVEY),
        _field(
            "identity_number",
            gettext_lazy("Identity number (公民身份号码)"),
            True,
            _IDENTITY,
            SURVEY,
        ),
        _field(
            "address",
            gettext_lazy("Dwelling where they live (standard address)"),
            True,
            "标准地址 房屋地址 现住址 居住地址 实际居住地址 现居住地址 住址 地址 address",
            SURVEY,
        ),
        _field(
            "phone",
            gettext_lazy("Phone (联系电话)"),
            False,
            "联系电话 手机号 手机号码 手机 电话 联系方式 phone mobile",
            SURVEY,
        ),
        _field(
            "relation", gettext_lazy("Relation to the head (与户主关系)"), False, _RELATION, SURVEY
        ),
        _field(
            "care_groups",
            gettext_lazy("Care groups (人员类别)"),
            False,
            "人员类别 人员类型 特殊人群 类别 caregroups",
            SURVEY,
        ),
        _field("sex", gettext_lazy("Sex (性别)"), False, _SEX, SURVEY),
        _field("birth_date", gettext_lazy("Date of birth (出生日期)"), False, _BIRTH, SURVEY),
    ),
}


def fields_for(source: str) -> tuple[ImportField, ...]:
    return FIELDS[source]


def _header_key(header: str) -> str:
    text = unicodedata.normalize("NFKC", header or "").lower()
    text = re.sub(r"\(.*?\)|\[.*?\]|[\s*:_\-]", "", text)
    return text


def suggest_mapping(headers: list[str], source: str) -> dict[str, int]:
    """Field → column index, from header synonyms: exact matches for every field first, then
    headers that merely start with a synonym (公民身份号码(18位)); a column serves one field."""
    keys = [_header_key(header) for header in headers]
    mapping: dict[str, int] = {}
    for exact in (True, False):
        for item in fields_for(source):
            if item.key in mapping:
                continue
            index = _find_header(keys, item.synonyms, set(mapping.values()), exact)
            if index is not None:
                mapping[item.key] = index
    return mapping


def _find_header(
    keys: list[str], synonyms: tuple[str, ...], taken: set[int], exact: bool
) -> int | None:
    for synonym in synonyms:
        for index, key in enumerate(keys):
            if index in taken or not key:
                continue
            if key == synonym or (not exact and len(synonym) > 1 and key.startswith(synonym)):
                return index
    return None


def clean_mapping(mapping: dict[str, Any], headers: list[str], source: str) -> dict[str, int]:
    """The mapping as field → column index; ValidationError when a required field is missing,
    a column is used twice or an index is out of range."""
    cleaned: dict[str, int] = {}
    errors = []
    for item in fields_for(source):
        value = mapping.get(item.key)
        if value in (None, ""):
            if source in item.required:
                errors.append(_("Choose the column for %(field)s.") % {"field": item.label})
            continue
        try:
            index = int(value)
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < len(headers):
            errors.append(_("%(field)s: no such column.") % {"field": item.label})
            continue
        if index in cleaned.values():
            errors.append(
                _("The column %(column)s is chosen for two fields.")
                % {"column": column_label(headers, index)}
            )
            continue
        cleaned[item.key] = index
    if errors:
        raise ValidationError(errors)
    return cleaned


def column_label(headers: list[str], index: int) -> str:
    """The header as the user wrote it (numbers masked: a file without a header row has a
    person's cells there), or "column C" when the header cell is empty."""
    header = headers[index] if 0 <= index < len(headers) else ""
    return (shown(header) if _LONG_NUMBER.search(header) else header) or _("column %(letter)s") % {
        "letter": get_column_letter(index + 1)
    }


# --- Values ------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_ADMIN_TOKEN = re.compile(r"省|自治区|市|区|县|旗|街道办事处|街道|镇|乡|社区居委会|社区|村")
_IDENTITY_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_CARE_SPLIT = re.compile(r"[;；,，、/|\s]+")
# A run of nine or more digits (spaces or hyphens between them allowed, an X at the end): what
# may be an identity or phone number in a cell, whichever column it was mapped to.
_LONG_NUMBER = re.compile(r"(?<![0-9])[0-9](?:[\s-]?[0-9]){8,}(?:[\s-]?X)?(?![0-9])", re.I)
_IDENTITY_LIKE = re.compile(r"[0-9]{14,17}[0-9X]")  # 15 or 18 characters, or one off
_PHONE_LIKE = re.compile(r"(?:\+?86)?(1[3-9][0-9]{9}|0[1-9][0-9]{8,10})")
ECHO_CHARS = 20

RELATION_WORDS = {
    Person.Relation.HEAD: "户主 本人 户主本人 head",
    Person.Relation.SPOUSE: "配偶 妻 妻子 夫 丈夫 爱人 夫妻 spouse",
    Person.Relation.CHILD: "子 女 儿子 女儿 子女 孩子 儿女 child",
    Person.Relation.GRANDCHILD: "孙子 孙女 外孙 外孙子 外孙女 孙子女 外孙子女 grandchild",
    Person.Relation.PARENT: "父亲 母亲 父 母 父母 继父 继母 养父 养母 parent",
    Person.Relation.OTHER: (
        "其他 其它 儿媳 女婿 兄 弟 姐 妹 兄弟 姐妹 兄弟姐妹 哥哥 弟弟 姐姐 妹妹 祖父 祖母 外祖父 "
        "外祖母 公公 婆婆 岳父 岳母 侄子 侄女 外甥 外甥女 孙媳 亲属 其他亲属 非亲属 保姆 租客 借住 other"
    ),
}
RELATIONS = {word: value for value, words in RELATION_WORDS.items() for word in words.split()}
_CHILD_WORD = re.compile(r"(长|次|三|四|五|六|七|八|九|独生|养|继|其他)(子|女|儿子|女儿)")
SEXES = {
    **dict.fromkeys(["男", "男性", "m", "male", "1"], Person.Sex.MALE),
    **dict.fromkeys(["女", "女性", "f", "female", "2"], Person.Sex.FEMALE),
}
CARE_GROUP_WORDS = {
    CareGroup.ELDERLY_ALONE: "独居老人 独居",
    CareGroup.DISABLED: "残疾人 残疾",
    CareGroup.SUBSISTENCE: "低保 低保户 低保对象",
    CareGroup.VETERAN: "退役军人 退伍军人",
    CareGroup.MINOR_IN_DIFFICULTY: "困境儿童",
    CareGroup.FLOATING: "流动人口",
    CareGroup.UNEMPLOYED_4050: "4050人员",
    CareGroup.PARTY_MEMBER: "党员 中共党员",
    CareGroup.VOLUNTEER: "志愿者",
}
CARE_WORDS = {
    word: str(group)
    for group, words in CARE_GROUP_WORDS.items()
    for word in [group.value, *words.split()]
}


def address_key(text: str) -> str:
    """What two spellings of one address share: NFKC (full-width digits and letters become
    ASCII), no whitespace, upper case."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text or "")).upper()


def parse_relation(text: str) -> str | None:
    """A Person.Relation value from words (户主, 配偶, 长子, 孙女 …) or a GB/T 4761 code (02, 10,
    20 …); None when unknown."""
    word = _SPACES.sub("", unicodedata.normalize("NFKC", text or "")).lower()
    if word in RELATIONS:
        return RELATIONS[word]
    if _CHILD_WORD.fullmatch(word):
        return Person.Relation.CHILD
    if re.fullmatch(r"[0-9]{2}", word):
        return _relation_code(word)
    return None


def _relation_code(code: str) -> str:
    """GB/T 4761-2008 family relation codes: 01/02 self or head, 1x spouse, 2x sons and 3x
    daughters (28 son-in-law, 38 daughter-in-law aside), 4x grandchildren, 50–52 and 57–59
    parents; the rest (in-laws, grandparents, siblings, others) is "other"."""
    if code in ("01", "02"):
        return Person.Relation.HEAD
    if code[0] == "1":
        return Person.Relation.SPOUSE
    if code[0] in "23" and code not in ("28", "38"):
        return Person.Relation.CHILD
    if code[0] == "4":
        return Person.Relation.GRANDCHILD
    if code in ("50", "51", "52", "57", "58", "59"):
        return Person.Relation.PARENT
    return Person.Relation.OTHER


def parse_date(text: str) -> datetime.date | None:
    """YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, YYYY年M月D日 or YYYYMMDD (a time after it is ignored)."""
    value = unicodedata.normalize("NFKC", text).strip()
    match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", value) or re.fullmatch(
        r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?", value
    )
    if not match:
        return None
    try:
        return datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def parse_care_groups(text: str) -> tuple[list[str], list[str]]:
    """(CareGroup values, words not understood) of a 人员类别 cell such as "低保；残疾人"."""
    groups: list[str] = []
    unknown: list[str] = []
    for word in _CARE_SPLIT.split(unicodedata.normalize("NFKC", text or "")):
        word = word.strip("\"'“”")
        if not word:
            continue
        group = CARE_WORDS.get(word) or CARE_WORDS.get(word.lower())
        if group is None and word.startswith("4050"):
            group = CareGroup.UNEMPLOYED_4050
        if group is None:
            unknown.append(word)
        elif group not in groups:
            groups.append(group)
    return sorted(groups), unknown


def shown(text: str, *, address: bool = False) -> str:
    """A cell as a problem report may echo it (docs/personal-data.md): identity numbers and phone
    numbers masked wherever they appear (a column may be mis-mapped), an address cell reduced to
    road and number; at most ``ECHO_CHARS`` characters of anything else."""
    value = " ".join(unicodedata.normalize("NFKC", text or "").split())
    whole = _masked_number(value)
    if whole is not None:
        return whole
    if address:
        return mask("address", value)
    return _LONG_NUMBER.sub(lambda m: _masked_number(m.group()) or m.group(), value)[:ECHO_CHARS]


def _masked_number(text: str) -> str | None:
    compact = re.sub(r"[\s()-]", "", text).upper()
    if _IDENTITY_LIKE.fullmatch(compact):
        return mask("identity", compact)
    phone = _PHONE_LIKE.fullmatch(compact)
    if phone:
        return mask("phone", phone.group(1))
    return None


def identity_key(text: str) -> int | None:
    """A well-shaped identity number as an int (X counts as 10 in base 11): a compact key to
    find the same number on two rows. None when the cell is not 17 digits + digit/X."""
    number = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", text or "")).upper()
    if not _IDENTITY_SHAPE.fullmatch(number):
        return None
    return int(number[:17]) * 11 + (10 if number[17] == "X" else int(number[17]))


@lru_cache(maxsize=65536)
def _initials(name: str) -> str:
    return initials(name)


# --- Dwellings by address ----------------------------------------------------------------------


class AddressBook:
    """Normalised standard address → dwelling, for the dwellings of one territory, loaded in one
    query per run (a street has ~15,000). Each entry packs the dwelling id with the index of its
    territory code, so a district's book stays small."""

    AMBIGUOUS = -1

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._entries: dict[str, int] = {}
        self._codes: list[str] = []
        code_index: dict[str, int] = {}
        rows = Dwelling.all_objects.filter(code_within("territory_code", prefix)).values_list(
            "id", "territory_code", "address__full_text"
        )
        for dwelling_id, code, text in rows.iterator(chunk_size=5000):
            index = code_index.setdefault(code, len(code_index))
            if index == len(self._codes):
                self._codes.append(code)
            key = address_key(text)
            packed = dwelling_id << 16 | index
            self._entries[key] = self.AMBIGUOUS if key in self._entries else packed

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, text: str) -> tuple[int, str] | int | None:
        """(dwelling id, territory code); AMBIGUOUS when two dwellings share the address; None
        when no dwelling of the territory has it. A leading 省/市/区/街道/社区 part the standard
        address lacks is tolerated ("延庆区香水园路1号…")."""
        key = address_key(text)
        packed = self._entries.get(key)
        if packed is None:
            packed = next(
                (
                    self._entries[key[m.end() :]]
                    for m in _ADMIN_TOKEN.finditer(key)
                    if key[m.end() :] in self._entries
                ),
                None,
            )
        if packed is None or packed == self.AMBIGUOUS:
            return packed
        return packed >> 16, self._codes[packed & 0xFFFF]

    def outside(self, texts: Iterable[str]) -> set[str]:
        """Which of these addresses are standard addresses outside the territory (one query)."""
        keys = {address_key(text) for text in texts if text}
        if not keys:
            return set()
        rows = StandardAddress.all_objects.filter(full_text__in=keys).exclude(
            code_within("territory_code", self.prefix)
        )
        return {address_key(text) for text in rows.values_list("full_text", flat=True)}


# --- Row validation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    row: int
    column: str
    reason: str


@dataclass
class CleanRow:
    """One valid row, normalised: what the import writes."""

    row: int
    name: str
    identity_number: str
    sex: str
    birth_date: datetime.date
    relation: str
    dwelling_id: int
    territory_code: str
    household_number: str = ""
    registered_address: str = ""
    phone: str = ""
    care_groups: list[str] = field(default_factory=list)
    digest: str = ""
    index_candidates: list[str] = field(default_factory=list)


class _HouseholdFacts:
    __slots__ = ("dwelling", "first_row", "heads", "listed_row", "members", "split")

    def __init__(self, first_row: int) -> None:
        self.first_row = first_row
        self.heads = 0
        self.members = 0
        self.dwelling = 0
        self.split = False
        self.listed_row = 0


@dataclass
class FileFacts:
    """What only the whole file tells: rows per identity number, households' heads and members.
    About 100 bytes per row (an int key and its first row)."""

    rows: int = 0
    first_row_of: dict[int, int] = field(default_factory=dict)
    duplicates: dict[int, list[int]] = field(default_factory=dict)
    households: dict[str, _HouseholdFacts] = field(default_factory=dict)


class Plan:
    """One run over one job's file: mapping, column names, the territory's address book."""

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.source = job.source
        self.mapping = clean_mapping(
            job.mapping or suggest_mapping(job.headers, job.source), job.headers, job.source
        )
        self.prefix = codes.scope_prefix(job.territory_code)
        self.territory_name = territory_name(job.territory_code)
        self.book = AddressBook(self.prefix)
        self.labels = {key: column_label(job.headers, index) for key, index in self.mapping.items()}

    def cell(self, values: list[str], key: str) -> str:
        index = self.mapping.get(key)
        return values[index] if index is not None else ""

    def label(self, key: str) -> str:
        return self.labels.get(key, "")[:64]

    @contextmanager
    def rows(self) -> Iterator[RowReader]:
        job = self.job
        if not job.file:
            raise ImportFileError(_("The uploaded file is no longer kept: upload it again."))
        job.file.open("rb")
        try:
            with open_rows(job.file, name=job.original_name, encoding=job.encoding) as reader:
                yield reader
        finally:
            job.file.close()

    def is_person_row(self, values: list[str]) -> bool:
        return bool(self.cell(values, "name") or self.cell(values, "identity_number"))


def territory_name(code: str) -> str:
    node = (
        Street.all_objects.filter(code=code).first()
        or Community.all_objects.filter(code=code).first()
    )
    return node.name if node is not None else code


def scan(plan: Plan) -> FileFacts:
    """First pass: identity numbers seen on several rows, and each registered household's heads,
    members and dwelling."""
    facts = FileFacts()
    with plan.rows() as reader:
        for number, values in reader:
            facts.rows += 1
            key = identity_key(plan.cell(values, "identity_number"))
            if key is not None:
                _note_identity(facts, key, number)
            if plan.source == REGISTRY:
                _note_household(plan, facts, number, values)
    return facts


def _note_identity(facts: FileFacts, key: int, number: int) -> None:
    first = facts.first_row_of.setdefault(key, number)
    if first != number:
        facts.duplicates.setdefault(key, [first]).append(number)


def _note_household(plan: Plan, facts: FileFacts, number: int, values: list[str]) -> None:
    household_number = _household_number(plan.cell(values, "household_number"))
    if not household_number:
        return
    household = facts.households.get(household_number)
    if household is None:
        household = facts.households[household_number] = _HouseholdFacts(number)
    if not plan.is_person_row(values):
        household.listed_row = household.listed_row or number
        return
    household.members += 1
    if parse_relation(plan.cell(values, "relation")) == Person.Relation.HEAD:
        household.heads += 1
    found = plan.book.find(plan.cell(values, "address"))
    if isinstance(found, tuple):
        if not household.dwelling:
            household.dwelling = found[0]
        elif household.dwelling != found[0]:
            household.split = True


def _household_number(text: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", text or ""))


def validate(
    plan: Plan, facts: FileFacts, batch: list[tuple[int, list[str]]]
) -> tuple[list[CleanRow], list[Issue]]:
    """Second pass over one chunk: the valid rows, normalised, and the problems of the others."""
    found = [plan.book.find(plan.cell(values, "address")) for _, values in batch]
    outside = plan.book.outside(
        plan.cell(values, "address")
        for (_, values), dwelling in zip(batch, found, strict=True)
        if dwelling is None
    )
    clean: list[CleanRow] = []
    issues: list[Issue] = []
    for (number, values), dwelling in zip(batch, found, strict=True):
        row, problems = _validate_row(plan, facts, (number, values, dwelling), outside)
        issues.extend(problems)
        if row is not None and not problems:
            clean.append(row)
    return clean, issues


def _validate_row(
    plan: Plan, facts: FileFacts, line: tuple[int, list[str], Any], outside: set[str]
) -> tuple[CleanRow | None, list[Issue]]:
    """``line``: row number, cells, and what the address book found for the address."""
    number, values, found = line
    issues: list[Issue] = []

    def problem(key: str, reason: str) -> None:
        issues.append(Issue(number, plan.label(key), reason[:255]))

    if plan.source == REGISTRY and not plan.is_person_row(values):
        _household_line(plan, facts, values, problem)
        return None, issues
    name = _name(plan.cell(values, "name"), problem)
    resident = _resident(plan.cell(values, "identity_number"), problem)
    if resident is not None:
        _check_sex(plan.cell(values, "sex"), resident.is_male, problem)
        _check_birth_date(plan.cell(values, "birth_date"), resident.birth_date, problem)
        _check_duplicate(facts, resident.number, problem)
    relation = _relation(plan, plan.cell(values, "relation"), problem)
    dwelling = _dwelling(plan, plan.cell(values, "address"), found, outside, problem)
    extra = _source_values(plan, facts, values, problem)
    if issues or resident is None or dwelling is None:
        return None, issues
    row = CleanRow(
        row=number,
        name=name,
        identity_number=resident.number,
        sex=Person.Sex.MALE if resident.is_male else Person.Sex.FEMALE,
        birth_date=resident.birth_date,
        relation=relation,
        dwelling_id=dwelling[0],
        territory_code=dwelling[1],
        **extra,
    )
    row.digest = _digest(plan.source, row)
    row.index_candidates = blind_index_candidates("identity", row.identity_number)
    return row, issues


Problem = Callable[[str, str], None]


def _household_line(plan: Plan, facts: FileFacts, values: list[str], problem: Problem) -> None:
    """A registry row with a 户号 but no person: fine when person rows carry that 户号."""
    number = _household_number(plan.cell(values, "household_number"))
    if not number:
        problem("name", _("This row has no name and no identity number."))
        return
    household = facts.households.get(number)
    if household is None or household.members == 0:
        problem(
            "household_number",
            _("Household %(number)s has no members: no person row carries this 户号.")
            % {"number": shown(number)},
        )


def _name(text: str, problem: Problem) -> str:
    name = " ".join(text.split())
    if not name:
        problem("name", _("The name is empty."))
    elif len(name) > 40:
        problem("name", _("The name is longer than 40 characters."))
    return name


def _resident(text: str, problem: Problem) -> Any:
    if not text:
        problem("identity_number", _("The identity number is empty."))
        return None
    try:
        return parse_identity_number(text)
    except ValidationError as exc:
        problem("identity_number", " ".join(str(message) for message in exc.messages))
        return None


def _check_sex(text: str, is_male: bool, problem: Problem) -> None:
    if not text:
        return
    sex = SEXES.get(unicodedata.normalize("NFKC", text).strip().lower())
    if sex is None:
        problem("sex", _("Unknown sex %(value)s: write 男 or 女.") % {"value": shown(text)})
    elif (sex == Person.Sex.MALE) != is_male:
        says = Person.Sex.MALE.label if is_male else Person.Sex.FEMALE.label
        problem(
            "sex",
            _("The sex %(value)s contradicts the identity number, which says %(sex)s.")
            % {"value": shown(text), "sex": says},
        )


def _check_birth_date(text: str, birth_date: datetime.date, problem: Problem) -> None:
    if not text:
        return
    value = parse_date(text)
    if value is None:
        problem(
            "birth_date",
            _("The date of birth %(value)s is not a date such as 1990-03-07.")
            % {"value": shown(text)},
        )
    elif value != birth_date:
        problem(
            "birth_date",
            _("The date of birth %(value)s contradicts the identity number, which says %(date)s.")
            % {"value": shown(text), "date": birth_date.isoformat()},
        )


def _check_duplicate(facts: FileFacts, number: str, problem: Problem) -> None:
    rows = facts.duplicates.get(identity_key(number) or 0)
    if rows:
        cited = ", ".join(str(row) for row in rows[:ERRORS_CITED])
        if len(rows) > ERRORS_CITED:
            cited += ", …"
        problem(
            "identity_number",
            _("The identity number %(number)s is on several rows (%(rows)s): keep one.")
            % {"number": mask("identity", number), "rows": cited},
        )


def _relation(plan: Plan, text: str, problem: Problem) -> str:
    if not text:
        if plan.source == REGISTRY:
            problem("relation", _("The relation to the head (与户主关系) is empty."))
        return ""
    relation = parse_relation(text)
    if relation is None:
        problem(
            "relation",
            _(
                "Unknown relation to the head %(value)s: write 户主, 配偶, 子, 女, 父母, 孙子女 or "
                "其他 (or a GB/T 4761 code)."
            )
            % {"value": shown(text)},
        )
        return ""
    return relation


def _dwelling(
    plan: Plan, text: str, found: Any, outside: set[str], problem: Problem
) -> tuple[int, str] | None:
    if not text:
        problem("address", _("The address is empty."))
        return None
    if isinstance(found, tuple):
        return found
    if found == AddressBook.AMBIGUOUS:
        reason = _(
            "Several dwellings have the address %(address)s: the standard addresses need fixing."
        )
    elif address_key(text) in outside:
        reason = _(
            "The address %(address)s lies outside %(territory)s, the territory of this import."
        )
    else:
        reason = _("No dwelling in %(territory)s has the standard address %(address)s.")
    problem(
        "address", reason % {"address": shown(text, address=True), "territory": plan.territory_name}
    )
    return None


def _source_values(
    plan: Plan, facts: FileFacts, values: list[str], problem: Problem
) -> dict[str, Any]:
    if plan.source == REGISTRY:
        return _registry_values(plan, facts, values, problem)
    return _survey_values(plan, values, problem)


def _registry_values(
    plan: Plan, facts: FileFacts, values: list[str], problem: Problem
) -> dict[str, Any]:
    number = _household_number(plan.cell(values, "household_number"))
    if not number:
        problem("household_number", _("The household number (户号) is empty."))
    elif len(number) > 32:
        problem("household_number", _("The household number is longer than 32 characters."))
    else:
        _check_household(facts.households[number], number, problem)
    text = plan.cell(values, "registered_address") or plan.cell(values, "address")
    return {"household_number": number, "registered_address": " ".join(text.split())}


def _check_household(household: _HouseholdFacts, number: str, problem: Problem) -> None:
    if household.heads == 0:
        problem(
            "relation",
            _("Household %(number)s has no head (户主) among its %(count)d rows.")
            % {"number": shown(number), "count": household.members},
        )
    elif household.heads > 1:
        problem(
            "relation",
            _("Household %(number)s has %(count)d heads (户主); it must have one.")
            % {"number": shown(number), "count": household.heads},
        )
    if household.split:
        problem(
            "household_number",
            _("The rows of household %(number)s name more than one dwelling.")
            % {"number": shown(number)},
        )


def _survey_values(plan: Plan, values: list[str], problem: Problem) -> dict[str, Any]:
    phone = plan.cell(values, "phone")
    if phone:
        try:
            phone = validate_phone(phone)
        except ValidationError as exc:
            problem("phone", " ".join(str(message) for message in exc.messages))
    groups, unknown = parse_care_groups(plan.cell(values, "care_groups"))
    if unknown:
        problem(
            "care_groups",
            _(
                "Unknown care group %(value)s: use 独居老人, 残疾人, 低保, 退役军人, 困境儿童, 流动人口, 4050, 党员 or 志愿者."
            )
            % {"value": "、".join(shown(word) for word in unknown)[:40]},
        )
    return {"phone": phone, "care_groups": groups}


def _digest(source: str, row: CleanRow) -> str:
    """A keyed digest of the normalised row (keyed like the blind indexes, so it does not let
    anyone test guesses of the values): the same row imported again is skipped."""
    canonical = json.dumps(
        [
            source,
            row.name,
            row.identity_number,
            row.sex,
            row.birth_date.isoformat(),
            row.relation,
            row.dwelling_id,
            row.household_number,
            row.registered_address,
            row.phone,
            row.care_groups,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return blind_index("text", canonical)


# --- Runs: dry run and import ------------------------------------------------------------------


def _batches(
    reader: Iterable[tuple[int, list[str]]], start_row: int = 0
) -> Iterator[list[tuple[int, list[str]]]]:
    batch: list[tuple[int, list[str]]] = []
    for number, values in reader:
        if number < start_row:
            continue
        batch.append((number, values))
        if len(batch) >= CHUNK_ROWS:
            yield batch
            batch = []
            reset_queries()  # with DEBUG on, the query log would keep every chunk's SQL
    if batch:
        yield batch


def _lock(job: ImportJob) -> ImportJob:
    return ImportJob.all_objects.select_for_update().get(pk=job.pk)


Existing = dict[str, tuple[int, str, str]]


def _existing(rows: list[CleanRow], digest_field: str) -> Existing:
    """identity blind index → (person id, last digest of this source, territory code), one
    query per chunk. Across all territories: a person is unique by identity number wherever
    they are (so a row may match someone recorded outside the import's territory)."""
    indexes = [index for row in rows for index in row.index_candidates]
    if not indexes:
        return {}
    found = Person.all_objects.filter(identity_index__in=indexes).values_list(
        "identity_index", "id", digest_field, "territory_code"
    )
    return {index: (pk, digest, code) for index, pk, digest, code in found}


def _match(row: CleanRow, existing: Existing) -> tuple[int, str, str] | None:
    return next((existing[i] for i in row.index_candidates if i in existing), None)


def _foreign_persons(plan: Plan, rows: list[CleanRow], existing: Existing) -> list[Issue]:
    """Rows matching a person recorded outside the job's territory: an import never takes a
    record from another office (it would then be shown, and revealable, here). The reason does
    not say where the person is recorded."""
    reason = _(
        "This person is recorded in another territory; ask that office to transfer the record."
    )
    return [
        Issue(row.row, plan.label("identity_number"), reason)
        for row in rows
        if (found := _match(row, existing)) is not None and not found[2].startswith(plan.prefix)
    ]


def _drop(rows: list[CleanRow], issues: list[Issue], bad: list[Issue]) -> list[CleanRow]:
    """The rows without those of ``bad``, whose problems join ``issues``."""
    issues.extend(bad)
    return _without(rows, bad)


def check(job: ImportJob) -> ImportJob:
    """The dry run, synchronously: validates every row, stores its problems (reasons in the
    active language) and counts what the import would create, update or leave unchanged.
    Writes no person. A cancel or a restarted dry run stops it (Superseded is swallowed)."""
    with unscoped():
        try:
            return _check(job)
        except Superseded:
            job.refresh_from_db()
            return job
        except (ImportFileError, ValidationError) as exc:
            return _check_failed(job, _message_of(exc))
        except Exception as exc:
            _check_failed(job, _("The dry run failed: %(error)s") % {"error": exc})
            raise


def _message_of(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(str(message) for message in exc.messages)
    return str(exc)


def _check(job: ImportJob) -> ImportJob:
    with transaction.atomic():
        locked = _lock(job)
        if locked.state not in (
            ImportJob.State.UPLOADED,
            ImportJob.State.CHECKING,
            ImportJob.State.CHECKED,
        ):
            raise ValidationError(_("This import can no longer be checked."))
        _reset(locked, ImportJob.State.CHECKING)
        locked.row_errors.all().delete()
    plan = Plan(locked)
    facts = scan(plan)
    _set_total(locked, facts.rows)
    counted = 0
    with plan.rows() as reader:
        for batch in _batches(reader):
            clean, issues = validate(plan, facts, batch)
            predicted = _predict(plan, clean, issues)
            _commit_check(plan, counted, len(batch), predicted, issues)
            counted += len(batch)
    return _finish_check(locked, counted)


def _reset(job: ImportJob, state: str) -> None:
    job.state = state
    job.processed_rows = job.checkpoint_row = job.error_count = 0
    job.created_count = job.updated_count = job.unchanged_count = 0
    job.message = ""
    job.finished_at = None
    job.save()


def _set_total(job: ImportJob, rows: int) -> None:
    ImportJob.all_objects.filter(pk=job.pk).update(total_rows=rows)
    job.total_rows = rows


def _predict(plan: Plan, rows: list[CleanRow], issues: list[Issue]) -> tuple[int, int, int]:
    """(to create, to update, unchanged) for the valid rows of a chunk; registered households
    outside the territory and persons recorded outside it become issues here, as in the
    import."""
    existing = _existing(rows, _digest_field(plan.source))
    rows = _drop(rows, issues, _foreign_persons(plan, rows, existing))
    if plan.source == REGISTRY:
        _, bad = _registered_households(plan, rows, create=False)
        rows = _drop(rows, issues, bad)
    matches = [_match(row, existing) for row in rows]
    new = sum(1 for found in matches if found is None)
    unchanged = sum(
        1 for row, found in zip(rows, matches, strict=True) if found and found[1] == row.digest
    )
    return new, len(rows) - new - unchanged, unchanged


def _without(rows: list[CleanRow], issues: list[Issue]) -> list[CleanRow]:
    bad = {issue.row for issue in issues}
    return [row for row in rows if row.row not in bad]


def _commit_check(
    plan: Plan,
    expected: int,
    processed: int,
    predicted: tuple[int, int, int],
    issues: list[Issue],
) -> None:
    with transaction.atomic():
        locked = _lock(plan.job)
        if (
            locked.state != ImportJob.State.CHECKING
            or locked.processed_rows != expected
            or clean_mapping(locked.mapping, locked.headers, locked.source) != plan.mapping
        ):
            raise Superseded
        _store_issues(locked, issues)
        locked.processed_rows += processed
        locked.error_count += len(issues)
        locked.created_count += predicted[0]
        locked.updated_count += predicted[1]
        locked.unchanged_count += predicted[2]
        locked.save(
            update_fields=[
                "processed_rows",
                "error_count",
                "created_count",
                "updated_count",
                "unchanged_count",
            ]
        )


def _store_issues(job: ImportJob, issues: list[Issue]) -> None:
    ImportRowError.objects.bulk_create(
        [
            ImportRowError(job=job, row=issue.row, column=issue.column, reason=issue.reason)
            for issue in issues
        ],
        batch_size=1000,
    )


def _finish_check(job: ImportJob, counted: int) -> ImportJob:
    with transaction.atomic():
        locked = _lock(job)
        if locked.state != ImportJob.State.CHECKING or locked.processed_rows != counted:
            raise Superseded
        locked.state = ImportJob.State.CHECKED
        locked.total_rows = counted
        locked.save(update_fields=["state", "total_rows"])
    return locked


def _check_failed(job: ImportJob, message: str) -> ImportJob:
    """A dry run that cannot finish sends the job back to its mapping, saying why."""
    ImportJob.all_objects.filter(pk=job.pk, state=ImportJob.State.CHECKING).update(
        state=ImportJob.State.UPLOADED, message=message[:2000]
    )
    job.refresh_from_db()
    return job


def run_import(job: ImportJob, actor: Any = None) -> ImportJob:
    """The import, synchronously, in chunks of CHUNK_ROWS rows, each committed with the job's
    checkpoint. Resumes from ``checkpoint_row`` after a crash; rows with problems are skipped
    (and their problems stored). ``actor`` defaults to the job's uploader."""
    with unscoped():
        try:
            return _import(job, actor if actor is not None else job.created_by)
        except Superseded:
            job.refresh_from_db()
            return job
        except Exception as exc:
            ImportJob.all_objects.filter(pk=job.pk, state=ImportJob.State.IMPORTING).update(
                state=ImportJob.State.FAILED,
                message=(_("The import stopped: %(error)s") % {"error": _message_of(exc)})[:2000],
            )
            job.refresh_from_db()
            if isinstance(exc, ImportFileError | ValidationError):
                return job
            raise


IMPORTABLE = (
    ImportJob.State.UPLOADED,
    ImportJob.State.CHECKED,
    ImportJob.State.IMPORTING,
    ImportJob.State.FAILED,
)


def _import(job: ImportJob, actor: Any) -> ImportJob:
    with transaction.atomic():
        locked = _lock(job)
        if locked.state == ImportJob.State.DONE:
            return locked
        if locked.state not in IMPORTABLE:
            raise ValidationError(_("This import was cancelled."))
        if locked.checkpoint_row == 0:  # a fresh start: the dry run's predictions go
            locked.created_count = locked.updated_count = locked.unchanged_count = 0
            locked.processed_rows = 0
        locked.state = ImportJob.State.IMPORTING
        locked.message = ""
        locked.save()
    plan = Plan(locked)
    facts = scan(plan)
    _set_total(locked, facts.rows)
    checkpoint = locked.checkpoint_row
    with plan.rows() as reader:
        for batch in _batches(reader, start_row=checkpoint):
            clean, issues = validate(plan, facts, batch)
            checkpoint = _import_chunk(plan, locked, checkpoint, batch, clean, issues, actor)
    return _finish_import(locked, checkpoint, actor)


def _import_chunk(
    plan: Plan,
    job: ImportJob,
    checkpoint: int,
    batch: list[tuple[int, list[str]]],
    clean: list[CleanRow],
    issues: list[Issue],
    actor: Any,
) -> int:
    """One chunk, one transaction: persons, households, versions, care tags, the chunk's
    problems and the job's checkpoint. Returns the new checkpoint (the next row to read)."""
    with transaction.atomic():
        locked = _lock(job)
        if locked.state != ImportJob.State.IMPORTING or locked.checkpoint_row != checkpoint:
            raise Superseded
        counts = _upsert(plan, clean, issues, actor)
        first, last = batch[0][0], batch[-1][0]
        deleted, _types = locked.row_errors.filter(row__gte=first, row__lte=last).delete()
        _store_issues(locked, issues)
        locked.error_count = max(locked.error_count - deleted, 0) + len(issues)
        locked.created_count += counts[0]
        locked.updated_count += counts[1]
        locked.unchanged_count += counts[2]
        locked.processed_rows += len(batch)
        locked.checkpoint_row = last + 1
        locked.save(
            update_fields=[
                "error_count",
                "created_count",
                "updated_count",
                "unchanged_count",
                "processed_rows",
                "checkpoint_row",
            ]
        )
    return last + 1


def _finish_import(job: ImportJob, checkpoint: int, actor: Any) -> ImportJob:
    with transaction.atomic():
        locked = _lock(job)
        if locked.state != ImportJob.State.IMPORTING or locked.checkpoint_row != checkpoint:
            raise Superseded
        locked.state = ImportJob.State.DONE
        locked.finished_at = timezone.now()
        locked.total_rows = max(locked.total_rows, locked.processed_rows)
        locked.message = summary(locked)
        locked.save()
        log_action(
            actor,
            "registry.import.done",
            locked,
            after={
                "source": locked.source,
                "sha256": locked.sha256,
                "rows": locked.processed_rows,
                "created": locked.created_count,
                "updated": locked.updated_count,
                "unchanged": locked.unchanged_count,
                "errors": locked.error_count,
                "skipped_rows": skipped_rows(locked),
            },
        )
        transaction.on_commit(lambda: delete_file(locked))
    return locked


def summary(job: ImportJob) -> str:
    return _(
        "%(created)d created, %(updated)d updated, %(unchanged)d unchanged, "
        "%(skipped)d rows skipped for problems."
    ) % {
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "skipped": skipped_rows(job),
    }


def skipped_rows(job: ImportJob) -> int:
    """Rows with at least one problem: the dry run reports them, the import skips them."""
    return job.row_errors.order_by().values("row").distinct().count()


def delete_file(job: ImportJob) -> None:
    """The upload holds identity numbers in clear: it goes once the job needs it no more."""
    if job.file:
        job.file.delete(save=False)
        ImportJob.all_objects.filter(pk=job.pk).update(file="")


# --- Upsert ------------------------------------------------------------------------------------


def _digest_field(source: str) -> str:
    return "registry_digest" if source == REGISTRY else "survey_digest"


def _upsert(
    plan: Plan, rows: list[CleanRow], issues: list[Issue], actor: Any
) -> tuple[int, int, int]:
    """Create new persons, update changed ones, skip unchanged rows: (created, updated,
    unchanged). Rows matching a person recorded outside the territory are problems and write
    nothing. Households are fetched or created next."""
    existing = _existing(rows, _digest_field(plan.source))
    rows = _drop(rows, issues, _foreign_persons(plan, rows, existing))
    households: dict[Any, int]
    if plan.source == REGISTRY:
        households, bad = _registered_households(plan, rows, create=True)
        rows = _drop(rows, issues, bad)
    else:
        households = _residing_households(rows)
    new_rows, changed = [], []
    for row in rows:
        found = _match(row, existing)
        if found is None:
            new_rows.append(row)
        elif found[1] != row.digest:
            changed.append((found[0], row))
    now = timezone.now()
    _create_persons(plan, new_rows, households, actor, now)
    updated = _update_persons(plan, changed, households, actor, now)
    return len(new_rows), updated, len(rows) - len(new_rows) - updated


def _registered_households(
    plan: Plan, rows: list[CleanRow], *, create: bool
) -> tuple[dict[str, int], list[Issue]]:
    """户号 → registered household id (created at the row's dwelling when missing, moved when
    the extract names another dwelling of the territory). A 户号 whose household lies outside
    the territory is a problem of the row, not a move."""
    wanted = {row.household_number: row for row in rows}
    found = list(
        Household.all_objects.filter(
            kind=Household.Kind.REGISTERED, number__in=list(wanted)
        ).values_list("number", "id", "dwelling_id", "territory_code")
    )
    known = {number for number, *_rest in found}
    households: dict[str, int] = {}
    issues: list[Issue] = []
    moved: list[Household] = []
    for number, pk, dwelling_id, code in found:
        if not code.startswith(plan.prefix):
            issues.extend(_foreign_household(plan, rows, number))
            continue
        households[number] = pk
        row = wanted[number]
        if dwelling_id != row.dwelling_id:
            moved.append(
                Household(pk=pk, dwelling_id=row.dwelling_id, territory_code=row.territory_code)
            )
    missing = [
        Household(
            kind=Household.Kind.REGISTERED,
            number=number,
            dwelling_id=row.dwelling_id,
            territory_code=row.territory_code,
        )
        for number, row in wanted.items()
        if number not in known
    ]
    if create:
        Household.all_objects.bulk_update(moved, ["dwelling", "territory_code"])
        Household.all_objects.bulk_create(missing)
        households.update({household.number: household.pk for household in missing})
    return households, issues


def _foreign_household(plan: Plan, rows: list[CleanRow], number: str) -> list[Issue]:
    reason = _("Household number %(number)s belongs to a household outside %(territory)s.") % {
        "number": shown(number),
        "territory": plan.territory_name,
    }
    return [
        Issue(row.row, plan.label("household_number"), reason)
        for row in rows
        if row.household_number == number
    ]


def _residing_households(rows: list[CleanRow]) -> dict[int, int]:
    """dwelling id → its residing household (the oldest one; created when there is none)."""
    dwellings = {row.dwelling_id: row.territory_code for row in rows}
    households: dict[int, int] = {}
    found = (
        Household.all_objects.filter(kind=Household.Kind.RESIDING, dwelling_id__in=list(dwellings))
        .order_by("-id")
        .values_list("dwelling_id", "id")
    )
    households.update(found)  # the last one written wins: the oldest, ordered by -id
    missing = [
        Household(kind=Household.Kind.RESIDING, dwelling_id=dwelling_id, territory_code=code)
        for dwelling_id, code in dwellings.items()
        if dwelling_id not in households
    ]
    Household.all_objects.bulk_create(missing)
    households.update({household.dwelling_id: household.pk for household in missing})
    return households


def _apply(plan: Plan, person: Person, row: CleanRow, households: dict[Any, int]) -> None:
    """The row's values on the person: shared fields, then what this source owns. A blank
    optional cell (phone, relation) never clears a value."""
    person.name = row.name
    person.initials = _initials(row.name)
    person.identity_number = row.identity_number
    person.sex = row.sex
    person.birth_date = row.birth_date
    if row.relation:
        person.relation = row.relation
    where = "registered_dwelling_id" if plan.source == REGISTRY else "dwelling_id"
    if person.pk and getattr(person, where) != row.dwelling_id:
        # A door-to-door finding outranks both sources until an import says otherwise.
        person.verified_residence, person.verified_at = "", None
    if plan.source == REGISTRY:
        person.registered_dwelling_id = row.dwelling_id
        person.registered_household_id = households[row.household_number]
        person.registered_address = row.registered_address
        person.registry_digest = row.digest
    else:
        person.dwelling_id = row.dwelling_id
        person.household_id = households[row.dwelling_id]
        if row.phone:
            person.phone = row.phone
        person.survey_digest = row.digest
    # The record hangs off where the person lives, else where they are registered.
    if person.dwelling_id is None or person.dwelling_id == row.dwelling_id:
        person.territory_code = row.territory_code
    fill_derived(person)


IMPORTED = PersonVersion.Source.IMPORT


def _create_persons(
    plan: Plan, rows: list[CleanRow], households: dict[Any, int], actor: Any, now: Any
) -> None:
    if not rows:
        return
    by = actor if getattr(actor, "pk", None) else None
    persons = []
    for row in rows:
        person = Person(version=1, updated_at=now, updated_by=by)
        _apply(plan, person, row, households)
        persons.append(person)
    Person.all_objects.bulk_create(persons, batch_size=500)
    PersonVersion.all_objects.bulk_create(
        [
            new_version(actor, person, IMPORTED, person_changes({}, tracked_values(person)), now)
            for person in persons
        ],
        batch_size=1000,
    )
    _add_care_tags(
        [(person, row.care_groups) for person, row in zip(persons, rows, strict=True)], {}
    )


UPDATE_FIELDS = [
    "name",
    "initials",
    "sex",
    "birth_date",
    "identity_number",
    "identity_index",
    "phone",
    "phone_index",
    "registered_address",
    "relation",
    "household",
    "dwelling",
    "registered_household",
    "registered_dwelling",
    "residence",
    "verified_residence",
    "verified_at",
    "territory_code",
    "registry_digest",
    "survey_digest",
    "version",
    "updated_at",
    "updated_by",
]


def _update_persons(
    plan: Plan,
    changed: list[tuple[int, CleanRow]],
    households: dict[Any, int],
    actor: Any,
    now: Any,
) -> int:
    """Persons whose row differs from the last import: fields compared one by one; only real
    changes make a new version (a row that differs only in what the record already says just
    gets its digest stored). Care tags and open verifications of a person who moved (inside
    the territory) follow them to their new grid. Returns how many persons changed."""
    if not changed:
        return 0
    rows = dict(changed)
    persons = list(Person.all_objects.select_for_update().filter(pk__in=list(rows)))
    tags = _care_tags_of([person.pk for person in persons])
    updated, digest_only, versions, moved = [], [], [], []
    for person in persons:
        row = rows[person.pk]
        before, was_in = tracked_values(person), person.territory_code
        _apply(plan, person, row, households)
        if person.territory_code != was_in:
            moved.append(person.pk)
        changes = person_changes(before, tracked_values(person))
        added = sorted(set(row.care_groups) - tags.get(person.pk, set()))
        if added:
            old = sorted(tags.get(person.pk, set()))
            changes["care_groups"] = [old, sorted({*old, *added})]
        if not changes:
            digest_only.append(person)
            continue
        person.version += 1
        person.updated_at = now
        person.updated_by = actor if getattr(actor, "pk", None) else None
        updated.append(person)
        versions.append(new_version(actor, person, IMPORTED, changes, now))
    Person.all_objects.bulk_update(updated, UPDATE_FIELDS, batch_size=500)
    follow_person_territory(moved)
    Person.all_objects.bulk_update(digest_only, [_digest_field(plan.source)], batch_size=1000)
    PersonVersion.all_objects.bulk_create(versions, batch_size=1000)
    _add_care_tags([(person, rows[person.pk].care_groups) for person in updated], tags)
    return len(updated)


def _care_tags_of(person_ids: list[int]) -> dict[int, set[str]]:
    tags: dict[int, set[str]] = {}
    rows = CareTag.all_objects.filter(person_id__in=person_ids).values_list("person_id", "group")
    for person_id, group in rows:
        tags.setdefault(person_id, set()).add(group)
    return tags


def _add_care_tags(persons: list[tuple[Person, list[str]]], existing: dict[int, set[str]]) -> None:
    """The survey adds care groups; it never removes one (a tag carries a visit schedule that
    the community set)."""
    CareTag.all_objects.bulk_create(
        [
            CareTag(person=person, group=group, territory_code=person.territory_code)
            for person, groups in persons
            for group in groups
            if group not in existing.get(person.pk, set())
        ],
        batch_size=1000,
    )


# --- Services ----------------------------------------------------------------------------------


def importer_scope(actor: Any) -> Scope:
    """Where the actor may import: the grants of the importing roles."""
    return role_scope(actor, REGISTRY_IMPORTERS)


def importer_nodes(actor: Any) -> list[Street | Community]:
    """Streets and communities where the actor may import, in code order."""
    scope = importer_scope(actor)
    streets = list(Street.all_objects.filter(scope.q("code")).filter(retired_at__isnull=True))
    communities = list(
        Community.all_objects.filter(scope.q("code")).filter(retired_at__isnull=True)
    )
    return sorted([*streets, *communities], key=lambda node: node.code)


def create_import(actor: Any, uploaded_file: Any, source: str, territory_code: str) -> ImportJob:
    """Store an upload as an UPLOADED job: size checked, SHA-256, encoding, headers, row count
    (an estimate for XLSX) and a suggested mapping. ValidationError with a clear reason for a
    file that cannot be read (nothing is kept); PermissionDenied outside the actor's territory."""
    with unscoped():
        node = _node(territory_code)
        if node is None or not actor.has_perm("registry.import", node):
            raise PermissionDenied(_("You may not import into this territory."))
        if source not in ImportJob.Source.values:
            raise ValidationError(_("Choose what the file is: extract or survey."))
        _check_size(uploaded_file)
        original = str(getattr(uploaded_file, "name", "") or "upload").replace("\x00", "")
        original = Path(original).name[:255] or "upload"
        job = ImportJob(
            source=source,
            territory_code=node.code,
            original_name=original,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        job.file.save(
            f"{uuid.uuid4().hex}{Path(original).suffix.lower()[:8]}", uploaded_file, save=False
        )
        try:
            _inspect(job)
        except ImportFileError as exc:
            job.file.delete(save=False)
            raise ValidationError(str(exc), code="unreadable") from exc
        with transaction.atomic():
            job.save()
            log_action(
                actor,
                "registry.import.upload",
                job,
                after={"source": source, "sha256": job.sha256, "rows": job.total_rows},
            )
    return job


def _node(code: str) -> Street | Community | None:
    return (
        Street.all_objects.filter(code=code).first()
        or Community.all_objects.filter(code=code).first()
    )


def _check_size(uploaded_file: Any) -> None:
    size = getattr(uploaded_file, "size", None) or 0
    limit = max_upload_bytes()
    if size > limit:
        raise ValidationError(
            _("The file is %(size)s; at most %(limit)s can be imported at once: split it.")
            % {"size": filesizeformat(size), "limit": filesizeformat(limit)},
            code="too_large",
        )
    if size == 0:
        raise ValidationError(_("The file is empty."), code="empty")


def _inspect(job: ImportJob) -> None:
    """SHA-256, encoding, headers and row count of the stored upload."""
    job.file.open("rb")
    try:
        binary, _owned = _binary(job.file)
        head = binary.read(4)
        binary.seek(0)
        if head.startswith(ZIP_MAGIC):
            job.sha256 = hashlib.file_digest(binary, "sha256").hexdigest()  # type: ignore[arg-type]
            binary.seek(0)
        else:
            job.sha256, job.encoding = inspect_bytes(binary)
        with open_rows(job.file, name=job.original_name, encoding=job.encoding) as reader:
            job.headers = reader.headers
            job.encoding = reader.encoding
            if reader.kind == "csv":
                job.total_rows = count_rows(reader)
            else:
                job.total_rows = reader.estimated_rows or 0
    finally:
        job.file.close()
    job.mapping = suggest_mapping(job.headers, job.source)


def earlier_imports(job: ImportJob) -> list[ImportJob]:
    """Imports of the very same file (SHA-256) into the same territory that finished."""
    with unscoped():
        return list(
            ImportJob.all_objects.filter(
                sha256=job.sha256,
                territory_code=job.territory_code,
                state=ImportJob.State.DONE,
            )
            .exclude(pk=job.pk)
            .order_by("-finished_at")
        )


def start_check(
    actor: Any, job: ImportJob, mapping: dict[str, Any], language: str = ""
) -> ImportJob:
    """Save the confirmed mapping and queue the dry run."""
    with unscoped(), transaction.atomic():
        locked = _lock(job)
        if locked.state not in (
            ImportJob.State.UPLOADED,
            ImportJob.State.CHECKING,
            ImportJob.State.CHECKED,
        ):
            raise ValidationError(_("This import can no longer be checked."))
        locked.mapping = clean_mapping(mapping, locked.headers, locked.source)
        _reset(locked, ImportJob.State.CHECKING)
        transaction.on_commit(lambda: _enqueue_check(locked.pk, language))
    return locked


def confirm_import(actor: Any, job: ImportJob, language: str = "") -> ImportJob:
    """After a dry run: queue the import (rows with problems will be skipped)."""
    with unscoped(), transaction.atomic():
        locked = _lock(job)
        if locked.state != ImportJob.State.CHECKED:
            raise ValidationError(_("Only a checked import can be confirmed."))
        locked.state = ImportJob.State.IMPORTING
        locked.save(update_fields=["state"])
        log_action(actor, "registry.import.confirm", locked, after={"rows": locked.total_rows})
        transaction.on_commit(lambda: _enqueue_import(locked.pk, actor, language))
    return locked


def resume_import(actor: Any, job: ImportJob, language: str = "") -> ImportJob:
    """Queue a failed or stuck import again: it continues from its checkpoint. A run still
    going is superseded (it stops at its next chunk), so resuming twice is harmless."""
    with unscoped(), transaction.atomic():
        locked = _lock(job)
        if locked.state not in (ImportJob.State.FAILED, ImportJob.State.IMPORTING):
            raise ValidationError(_("Only a failed or running import can be resumed."))
        locked.state = ImportJob.State.IMPORTING
        locked.save(update_fields=["state"])
        transaction.on_commit(lambda: _enqueue_import(locked.pk, actor, language))
    return locked


def cancellable(job: ImportJob) -> bool:
    """Before any person was written: mapping, dry run, or an import that failed at once."""
    early = (ImportJob.State.UPLOADED, ImportJob.State.CHECKING, ImportJob.State.CHECKED)
    return job.state in early or (job.state == ImportJob.State.FAILED and job.checkpoint_row == 0)


def cancel_import(actor: Any, job: ImportJob) -> ImportJob:
    with unscoped(), transaction.atomic():
        locked = _lock(job)
        if not cancellable(locked):
            raise ValidationError(_("An import that has started cannot be cancelled."))
        locked.state = ImportJob.State.CANCELLED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["state", "finished_at"])
        log_action(actor, "registry.import.cancel", locked, after={"sha256": locked.sha256})
        transaction.on_commit(lambda: delete_file(locked))
    return locked


def _enqueue_check(job_id: int, language: str) -> None:
    from jiedao.registry.import_jobs import check_import

    check_import.enqueue(job_id=job_id, language=language or translation.get_language() or "")


def _enqueue_import(job_id: int, actor: Any, language: str) -> None:
    from jiedao.registry.import_jobs import import_file

    import_file.enqueue(
        job_id=job_id,
        actor_id=getattr(actor, "pk", None),
        language=language or translation.get_language() or "",
    )


def importer_q(actor: Any) -> Q:
    """Import jobs the actor may see: in a territory where they may import."""
    return importer_scope(actor).q("territory_code")

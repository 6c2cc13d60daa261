"""Reading a year's days from CSV or XLSX (columns date, kind, name): every bad row reported,
nothing trusted. Pure: no database access."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.utils.translation import gettext as _

from jiedao.workdays.models import DayKind

MAX_BYTES = 1024 * 1024
MAX_ROWS = 1000
MIN_YEAR, MAX_YEAR = 2000, 2100
HEADERS = {
    "date": {"date", "日期"},
    "kind": {"kind", "type", "类型", "类别"},
    "name": {"name", "名称", "节日", "说明"},
}
KINDS = {
    DayKind.HOLIDAY: {"holiday", "off", "rest", "day off", "休", "假", "休息", "放假", "节假日"},
    DayKind.WORKDAY: {
        "workday",
        "working day",
        "working",
        "work",
        "班",
        "上班",
        "工作日",
        "调休上班",
    },
}
DATE_PATTERN = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet numbers it: the header is row 1; 0 for the file as a whole
    column: str
    reason: str


@dataclass(frozen=True)
class ParsedDay:
    row: int
    day: date
    kind: str
    name: str


@dataclass
class Parsed:
    days: list[ParsedDay] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def fail(self, row: int, column: str, reason: str) -> None:
        self.errors.append(RowError(row, column, reason))


def parse_file(content: bytes, filename: str = "") -> Parsed:
    parsed = Parsed()
    if not content.strip():
        parsed.fail(0, "", _("The file is empty."))
        return parsed
    if len(content) > MAX_BYTES:
        parsed.fail(0, "", _("The file is larger than 1 MB."))
        return parsed
    rows = (
        _xlsx_rows(content, parsed) if _is_xlsx(content, filename) else _csv_rows(content, parsed)
    )
    if rows is not None:
        _read_rows(rows, parsed)
    return parsed


def _is_xlsx(content: bytes, filename: str) -> bool:
    return content[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx")


def _csv_rows(content: bytes, parsed: Parsed) -> list[list[Any]] | None:
    for encoding in ("utf-8-sig", "gb18030"):  # GB18030 reads every GBK file
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        parsed.fail(0, "", _("The file is neither UTF-8 nor GBK text, nor an XLSX workbook."))
        return None
    if "\x00" in text:
        parsed.fail(0, "", _("The file is not a CSV text file."))
        return None
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        parsed.fail(0, "", _("The file is not valid CSV: %(reason)s") % {"reason": exc})
        return None


def _xlsx_rows(content: bytes, parsed: Parsed) -> list[list[Any]] | None:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = [
            list(r)
            for _i, r in zip(range(MAX_ROWS + 2), sheet.iter_rows(values_only=True), strict=False)
        ]
        book.close()
        return rows
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError, TypeError):
        parsed.fail(0, "", _("The file could not be read as an XLSX workbook."))
        return None


def _read_rows(rows: list[list[Any]], parsed: Parsed) -> None:
    filled = [i for i, row in enumerate(rows) if any(_text(cell) for cell in row)]
    if not filled:
        parsed.fail(0, "", _("The file has no header row (date, kind, name)."))
        return
    header = filled[0]
    columns = _columns(rows[header], header + 1, parsed)
    if columns is None:
        return
    if len(filled) - 1 > MAX_ROWS:
        parsed.fail(0, "", _("The file has more than %(n)s rows.") % {"n": MAX_ROWS})
        return
    seen: dict[date, int] = {}
    for index in filled[1:]:
        number = index + 1
        day = _read_row(number, rows[index], columns, parsed)
        if day is None:
            continue
        if day.day in seen:
            reason = _("Duplicate: the same date as row %(row)s.") % {"row": seen[day.day]}
            parsed.fail(number, "date", reason)
            continue
        seen[day.day] = number
        parsed.days.append(day)
    if not parsed.days and not parsed.errors:
        parsed.fail(0, "", _("The file has a header but no days."))


def _columns(header: list[Any], number: int, parsed: Parsed) -> dict[str, int] | None:
    labels = [_text(cell).lower() for cell in header]
    columns: dict[str, int] = {}
    for key, names in HEADERS.items():
        for index, label in enumerate(labels):
            if label in names:
                columns[key] = index
                break
    missing = [key for key in ("date", "kind") if key not in columns]
    for key in missing:
        parsed.fail(number, key, _("The header has no “%(column)s” column.") % {"column": key})
    return None if missing else columns


def _read_row(
    number: int, row: list[Any], columns: dict[str, int], parsed: Parsed
) -> ParsedDay | None:
    def cell(key: str) -> Any:
        index = columns.get(key)
        return row[index] if index is not None and index < len(row) else None

    day = _date(cell("date"))
    kind = _kind(cell("kind"))
    name = _text(cell("name"))
    ok = True
    if day is None:
        parsed.fail(
            number,
            "date",
            _("Not a date (write it as 2027-10-01): “%(value)s”.") % {"value": _show(cell("date"))},
        )
        ok = False
    elif not MIN_YEAR <= day.year <= MAX_YEAR:
        parsed.fail(number, "date", _("The year %(year)s is out of range.") % {"year": day.year})
        ok = False
    if kind is None:
        parsed.fail(
            number,
            "kind",
            _("Unknown kind “%(value)s”: write holiday (休) or workday (班).")
            % {"value": _show(cell("kind"))},
        )
        ok = False
    if len(name) > 60:
        parsed.fail(number, "name", _("The name is longer than 60 characters."))
        ok = False
    if not ok or day is None or kind is None:
        return None
    return ParsedDay(number, day, kind, name)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).replace("\x00", "").strip()


def _show(value: Any) -> str:
    return _text(value)[:40]


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    match = DATE_PATTERN.match(text)
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _kind(value: Any) -> str | None:
    text = _text(value).lower().replace("_", " ")
    for kind, names in KINDS.items():
        if text in names:
            return str(kind)
    return None

"""Spreadsheet export of any list (openpyxl, streamed row by row in write-only mode)."""

from __future__ import annotations

from collections.abc import Iterable
from io import BytesIO
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from openpyxl import Workbook


def resolve(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if callable(obj):
            obj = obj()
        if obj is None:
            return ""
    return obj


def xlsx_response(name: str, columns: list[tuple[str, Any]], rows: Iterable[Any]) -> HttpResponse:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=name[:31])
    sheet.append([str(heading) for _, heading in columns])
    for row in rows.iterator() if hasattr(rows, "iterator") else rows:
        sheet.append([_cell(resolve(row, path)) for path, _ in columns])
    buffer = BytesIO()
    book.save(buffer)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.xlsx"'
    return response


def _cell(value: Any) -> Any:
    if isinstance(value, int | float | str) or value is None:
        return value
    return str(value)

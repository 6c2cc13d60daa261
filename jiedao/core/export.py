"""Spreadsheet export of any list (openpyxl write-only mode, row by row), capped and audited."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from io import BytesIO
from typing import Any
from urllib.parse import unquote_plus

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from jiedao.audit.models import AuditEntry
from jiedao.audit.services import log_action
from jiedao.core.fields import redact_numbers


def resolve(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if callable(obj):
            obj = obj()
        if obj is None:
            return ""
    return obj


def xlsx_response(
    name: str, columns: list[tuple[str, Any]], rows: Iterable[Any]
) -> tuple[HttpResponse, int]:
    """The workbook and the number of data rows written (at most JIEDAO_EXPORT_MAX_ROWS)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=name[:31])
    sheet.append([str(heading) for _, heading in columns])
    limit, written = settings.JIEDAO_EXPORT_MAX_ROWS, 0
    for row in rows.iterator(chunk_size=2000) if hasattr(rows, "iterator") else rows:
        if written == limit:
            sheet.append(
                [_("Only the first %(n)d rows were exported: narrow the search.") % {"n": limit}]
            )
            break
        sheet.append([_cell(sheet, resolve(row, path)) for path, _ in columns])
        written += 1
    buffer = BytesIO()
    book.save(buffer)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.xlsx"'
    return response, written


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> Any:
    if isinstance(value, int | float) or value is None:
        return value
    if isinstance(value, datetime):  # a real date in Excel, on Beijing time (Excel has no zones)
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        cell = WriteOnlyCell(sheet, value=local.replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    if isinstance(value, date):
        return value
    # Always text: a name like "=HYPERLINK(...)" must never become a formula in Excel or WPS.
    cell = WriteOnlyCell(sheet, value=str(value))
    cell.data_type = "s"
    return cell


class ExportMixin:
    """``?format=xlsx`` on a list view exports its filtered rows; each export is audited, since
    lists carry addresses and names (domain.md §10)."""

    export_name = "export"
    columns: list[tuple[str, Any]] = []
    request: HttpRequest

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET.get("format") != "xlsx":
            return super().get(request, *args, **kwargs)  # type: ignore[misc]
        return audited_xlsx(request, self.export_name, self.columns, self.get_queryset())  # type: ignore[attr-defined]


def audited_xlsx(
    request: HttpRequest, name: str, columns: list[tuple[str, Any]], rows: Iterable[Any]
) -> HttpResponse:
    """The workbook, with the export written to the audit trail (who, what, how many rows)."""
    response, count = xlsx_response(name, columns, rows)
    log_action(
        request.user,
        f"export.{name}",
        None,
        # A searched phone or identity number must not be kept in clear in the trail.
        note=redact_numbers(f"{count} rows; {unquote_plus(request.GET.urlencode())}"),
        # Shown in the audit trail of the exporter's first territory grant.
        territory_code=next(
            (g.node_code for g in getattr(request.user, "active_grants", []) if g.node_code), ""
        ),
        kind=AuditEntry.Kind.SENSITIVE_READ,
    )
    return response

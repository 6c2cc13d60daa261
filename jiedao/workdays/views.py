"""Pages of the working-day calendar: a year per calendar, adding a day, importing a year."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from jiedao.workdays import selectors, services
from jiedao.workdays.calendar import PACKAGE_YEARS, Source
from jiedao.workdays.forms import DayForm, ImportForm

SIGNING_SALT = "jiedao.workdays.import"


def _require_view(request: HttpRequest) -> None:
    if not request.user.has_perm("workdays.view"):
        raise PermissionDenied


def _year_url(code: str, year: int) -> str:
    return reverse("workdays:year", args=[code, year])


@login_required
def index(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    node = selectors.default_node(request.user)
    if node is None:
        raise Http404
    return redirect(_year_url(node.code, timezone.localdate().year))


@login_required
def year_view(request: HttpRequest, code: str, year: int) -> HttpResponse:
    _require_view(request)
    if not 2000 <= year <= 2100:
        raise Http404
    node, calendar = selectors.calendar_of(request.user, code)
    context = {
        "node": node,
        "year": year,
        "months": selectors.year_grid(year, calendar),
        "source": calendar.year_source(year),
        "fallback": calendar.is_fallback_year(year),
        "package_years": PACKAGE_YEARS,
        "entries": selectors.entered_days(request.user, node.code, year),
        "district_entries": _district_entries(request, node, year),
        "nodes": selectors.calendar_nodes(request.user),
        "can_edit": request.user.has_perm("workdays.change_calendar", node),
        "Source": Source,
    }
    return render(request, "workdays/year.html", context)


def _district_entries(request: HttpRequest, node: Any, year: int) -> Any:
    if node.level != "street":
        return None
    return selectors.entered_days(request.user, node.district.code, year)


def _editable_node(request: HttpRequest, code: str) -> Any:
    _require_view(request)
    node = selectors.node_by_code(request.user, code)
    if not request.user.has_perm("workdays.change_calendar", node):
        raise PermissionDenied
    return node


@login_required
def add_day(request: HttpRequest, code: str) -> HttpResponse:
    node = _editable_node(request, code)
    form = DayForm(request.POST or None, initial={"date": request.GET.get("date", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.add_day(request.user, node, data["date"], data["kind"], data["name"])
        messages.success(request, _("Saved: %(date)s.") % {"date": data["date"].isoformat()})
        return redirect(_year_url(node.code, data["date"].year))
    return render(request, "workdays/add_day.html", {"node": node, "form": form})


@login_required
@require_POST
def remove_day(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    node = _editable_node(request, code)
    entry = get_object_or_404(selectors.entered_days(request.user, node.code), pk=pk)
    services.remove_day(request.user, entry)
    messages.success(request, _("Removed: %(date)s.") % {"date": entry.date.isoformat()})
    return redirect(_year_url(node.code, entry.date.year))


@login_required
def import_days(request: HttpRequest, code: str) -> HttpResponse:
    """Upload: a dry run and its report. Confirm: the checked content, signed, is imported."""
    node = _editable_node(request, code)
    form = ImportForm()
    context: dict[str, Any] = {"node": node, "form": form}
    if request.method == "POST" and "confirm" in request.POST:
        content = _unsign(request.POST.get("content", ""))
        report = services.import_year(
            request.user, node, content, filename="confirmed.csv", confirm=True
        )
        if report.applied:
            messages.success(request, _import_summary(report))
            return redirect(_year_url(node.code, (report.years or [date.today().year])[0]))
        context["report"] = report
    elif request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        context["form"] = form
        if form.is_valid():
            upload = form.cleaned_data["file"]
            content = upload.read(2 * 1024 * 1024)
            report = services.import_year(request.user, node, content, filename=upload.name)
            context["report"] = report
            if report.ok:
                context["signed"] = signing.dumps(
                    _normalised(report), salt=SIGNING_SALT, compress=True
                )
    return render(request, "workdays/import.html", context)


def _normalised(report: services.ImportReport) -> str:
    lines = ["date,kind,name"]
    for day in report.create + report.update + report.unchanged:
        name = day.name.replace('"', '""')
        lines.append(f'{day.day.isoformat()},{day.kind},"{name}"')
    return "\n".join(lines)


def _unsign(value: str) -> bytes:
    try:
        return signing.loads(value, salt=SIGNING_SALT, max_age=3600).encode("utf-8")
    except signing.BadSignature as exc:
        message = _("The checked file has expired or was changed: upload it again.")
        raise PermissionDenied(message) from exc


def _import_summary(report: services.ImportReport) -> str:
    return _("Imported: %(created)s days added, %(updated)s changed, %(unchanged)s already so.") % {
        "created": len(report.create),
        "updated": len(report.update),
        "unchanged": len(report.unchanged),
    }

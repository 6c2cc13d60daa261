"""Grid layer pages: import (dry run, then confirm), export, a street's grid check, and the
forms that set one grid's purposes and assign or end its grid workers.

Wire into jiedao/territory/urls.py *before* ``grids/<str:code>/`` (else "import" and "export"
are taken for grid codes): ``urlpatterns = [*views_grid_io.urlpatterns, ...]``.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from shapely.geometry import mapping

from jiedao.accounts.models import User
from jiedao.accounts.roles import STAFF_ROLES
from jiedao.cases.coords import CRS
from jiedao.core.selectors import visible
from jiedao.core.views_base import parse_id, show_service_errors
from jiedao.territory import grid_io, selectors
from jiedao.territory.models import Grid, GridPurpose, GridWorker, Street, TerritoryNode

SIGNING_SALT = "jiedao.territory.grid_import"
SIGNED_MAX_AGE = 3600
CRS_CHOICES = [
    (CRS.WGS84.value, gettext_lazy("WGS-84 / CGCS2000 (GPS, Tianditu)")),
    (CRS.GCJ02.value, gettext_lazy("GCJ-02 (Amap, Tencent)")),
    (CRS.BD09.value, gettext_lazy("BD-09 (Baidu)")),
]
CONTENT_TYPES = {grid_io.GEOJSON: "application/geo+json", grid_io.CSV: "text/csv; charset=utf-8"}


class GridImportForm(forms.Form):
    street = forms.ChoiceField(label=gettext_lazy("Street"))
    crs = forms.ChoiceField(
        label=gettext_lazy("Coordinate system of the file"),
        choices=CRS_CHOICES,
        initial=CRS.WGS84.value,
        help_text=gettext_lazy(
            "Drawn on Amap or Tencent maps: GCJ-02; on Baidu maps: BD-09. Converted to WGS-84."
        ),
    )
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("GeoJSON (.geojson, .json) or CSV with a WKT column (.csv)."),
        widget=forms.ClearableFileInput(attrs={"accept": ".geojson,.json,.csv"}),
    )

    def __init__(self, *args: Any, streets: list[Street], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(s.code, f"{s.name} ({s.code})") for s in streets]
        self.fields["street"].choices = choices  # type: ignore[attr-defined]


# --- Forms for the grid pages (wired by the lead) --------------------------------------------


class GridPurposesForm(forms.Form):
    purposes = forms.MultipleChoiceField(
        label=gettext_lazy("Purposes"),
        choices=GridPurpose.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


def grid_worker_candidates(grid: Grid) -> QuerySet[User]:
    """Active staff with an active grant on the grid, its community or its street (one grant
    must satisfy all of it: the conditions sit in one filter call)."""
    community = grid.community
    on_node = Q(grants__grid=grid) | Q(grants__community=community)
    on_node |= Q(grants__street_id=community.street_id)
    rows = User.objects.filter(
        on_node,
        is_active=True,
        grants__revoked_at__isnull=True,
        grants__role__in=sorted(STAFF_ROLES),
    )
    return rows.distinct().order_by("username")


class GridWorkerForm(forms.Form):
    user = forms.ModelChoiceField(label=gettext_lazy("Grid worker"), queryset=User.objects.none())
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=GridWorker.Kind.choices)
    since = forms.DateField(
        label=gettext_lazy("Since"),
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, grid: Grid, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["user"]
        field.queryset = grid_worker_candidates(grid)  # type: ignore[attr-defined]
        field.label_from_instance = _candidate_label  # type: ignore[attr-defined]
        field.help_text = gettext_lazy(
            "Staff with a role on this grid, its community or its street. Assigning makes them "
            "responsible for the grid; what they may see still comes from their role."
        )


def _candidate_label(user: User) -> str:
    shown = str(user)
    return shown if shown == user.username else f"{shown} ({user.username})"


class GridWorkerEndForm(forms.Form):
    until = forms.DateField(
        label=gettext_lazy("Last day"),
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("The assignment is kept in the grid's history; it is not deleted."),
    )


# --- Helpers ---------------------------------------------------------------------------------


def _require_grid_role(request: HttpRequest) -> None:
    """The page is for those who draw grids somewhere (street staff and above)."""
    if not request.user.has_perm("territory.change_grid"):
        raise PermissionDenied


def _street_for_edit(request: HttpRequest, code: str) -> Street:
    """404 outside what the user sees, 403 where they see but may not draw grids."""
    street = get_object_or_404(selectors.streets(request.user), code=code)
    if not request.user.has_perm("territory.change_grid", street):
        raise PermissionDenied
    return street


def _editable_streets(request: HttpRequest) -> list[Street]:
    rows = selectors.streets(request.user).filter(retired_at__isnull=True).defer("boundary")
    return [s for s in rows if request.user.has_perm("territory.change_grid", s)]


def _sign(request: HttpRequest, street: Street, text: str, fmt: str, crs: str) -> str:
    payload = {"u": request.user.pk, "s": street.code, "t": text, "f": fmt, "c": crs}
    return signing.dumps(payload, salt=SIGNING_SALT, compress=True)


def _unsign(request: HttpRequest) -> dict[str, Any]:
    try:
        payload = signing.loads(
            request.POST.get("content", ""), salt=SIGNING_SALT, max_age=SIGNED_MAX_AGE
        )
    except signing.BadSignature as exc:
        raise PermissionDenied(
            _("The checked file has expired or was changed: upload it again.")
        ) from exc
    if not isinstance(payload, dict) or payload.get("u") != request.user.pk:
        raise PermissionDenied(_("The checked file has expired or was changed: upload it again."))
    return payload


def _feature(geometry: dict[str, Any], name: str, role: str = "child") -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"name": name, "role": role}}


def _map_json(street: Street, features: list[dict[str, Any]]) -> str:
    """data-map GeoJSON: the street's boundary ("self") and the given features ("child")."""
    if street.boundary:
        features = [_feature(street.boundary, street.name, "self"), *features]
    if not features:
        return ""
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def _report_map(street: Street, report: grid_io.ImportReport) -> str:
    features = [
        _feature(row.geometry.geojson, row.name or row.code)
        for row in report.rows
        if row.geometry is not None
    ]
    return _map_json(street, features)


# --- Pages -----------------------------------------------------------------------------------


@login_required
def grid_import(request: HttpRequest) -> HttpResponse:
    """Upload → dry-run report → confirm (the checked file, signed, is checked again and
    imported in one transaction)."""
    _require_grid_role(request)
    streets = _editable_streets(request)
    initial = {"street": request.GET.get("street", "")}
    form = GridImportForm(streets=streets, initial=initial)
    context: dict[str, Any] = {"form": form, "title": _("Import grids")}
    if request.method == "POST" and "confirm" in request.POST:
        payload = _unsign(request)
        street = _street_for_edit(request, payload["s"])
        report = grid_io.import_grids(
            request.user, street, payload["t"], payload["f"], payload["c"], confirm=True
        )
        if report.applied:
            messages.success(request, _import_summary(report))
            return redirect(reverse("territory:grid_check", args=[street.code]))
        context.update(report=report, street=street, geojson=_report_map(street, report))
    elif request.method == "POST":
        street = _street_for_edit(request, request.POST.get("street", ""))
        form = GridImportForm(request.POST, request.FILES, streets=streets)
        context["form"] = form
        if form.is_valid():
            context.update(_check_upload(request, form, street))
    return render(request, "territory/grid_import.html", context)


def _check_upload(request: HttpRequest, form: GridImportForm, street: Street) -> dict[str, Any]:
    upload, crs = form.cleaned_data["file"], form.cleaned_data["crs"]
    limit = grid_io.max_upload_bytes()
    if upload.size > limit:
        form.add_error(
            "file", _("The file is larger than %(size)s.") % {"size": filesizeformat(limit)}
        )
        return {}
    try:
        text = grid_io.decode_upload(upload.read())
    except ValidationError as exc:
        form.add_error("file", exc)
        return {}
    fmt = grid_io.guess_format(upload.name or "", text)
    report = grid_io.import_grids(request.user, street, text, fmt, crs)
    context: dict[str, Any] = {
        "report": report,
        "street": street,
        "geojson": _report_map(street, report),
    }
    if report.ok:
        context["signed"] = _sign(request, street, text, fmt, crs)
    return context


def _import_summary(report: grid_io.ImportReport) -> str:
    return _(
        "Imported: %(created)s grids created, %(updated)s changed, %(unchanged)s unchanged."
    ) % {
        "created": report.count("create"),
        "updated": report.count("update"),
        "unchanged": report.count("unchanged"),
    }


@login_required
def grid_export(request: HttpRequest) -> HttpResponse:
    """``?street=<code>`` or ``?community=<code>``, ``&format=geojson|csv``: the grids the user
    may see there."""
    if not request.user.has_perm("territory.browse"):
        raise PermissionDenied
    fmt = request.GET.get("format", grid_io.GEOJSON)
    if fmt not in grid_io.FORMATS:
        return HttpResponseBadRequest(_("Choose the format geojson or csv."))
    node: TerritoryNode
    if request.GET.get("street"):
        node = get_object_or_404(selectors.streets(request.user), code=request.GET["street"])
    elif request.GET.get("community"):
        rows = selectors.communities(request.user)
        node = get_object_or_404(rows, code=request.GET["community"])
    else:
        return HttpResponseBadRequest(_("Name a street or a community."))
    content, _count = grid_io.export_document(request.user, node, fmt)
    response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="grids-{node.code}-{stamp}.{fmt}"'
    return response


@login_required
def grid_check(request: HttpRequest, code: str) -> HttpResponse:
    """The street's grid layer checked: overlaps, grids beyond the street or their community,
    gaps in each community."""
    _require_grid_role(request)
    street = _street_for_edit(request, code)
    check = grid_io.check_street(street)
    grids = grid_io.export_grids(request.user, street)
    features = [_feature(g.boundary, g.name) for g in grids if g.boundary]
    for gap in check.gaps:
        label = _("Gap in %(community)s") % {"community": gap.community_name}
        features += [_feature(mapping(piece), label) for piece in gap.pieces]
    for overlap in check.overlaps:
        point = {"type": "Point", "coordinates": list(overlap.where)}
        features.append(_feature(point, _("Overlap: %(a)s / %(b)s") % _pair(overlap)))
    context = {
        "title": _("Grid check"),
        "street": street,
        "check": check,
        "gap_messages": [grid_io.gap_message(gap) for gap in check.gaps],
        "grid_count": len(grids),
        "geojson": _map_json(street, features),
    }
    return render(request, "territory/grid_import_check.html", context)


def _pair(overlap: grid_io.Overlap) -> dict[str, str]:
    return {"a": overlap.a.label, "b": overlap.b.label}


# --- Purposes and grid workers of one grid ------------------------------------------------


def _grid_for_edit(request: HttpRequest, code: str) -> Grid:
    """The rule of the import pages, on one grid: 403 for those who edit grids nowhere, 404
    outside what the user sees, 403 where they see the grid but may not edit it."""
    _require_grid_role(request)
    grid = get_object_or_404(selectors.grids(request.user), code=code)
    if not request.user.has_perm("territory.change_grid", grid):
        raise PermissionDenied
    return grid


def _posted(request: HttpRequest) -> Any:
    """The form's data on POST (even an empty one: no purpose ticked), None otherwise."""
    return request.POST if request.method == "POST" else None


def _refuse_if_retired(form: forms.Form, grid: Grid) -> bool:
    if grid.retired_at is None:
        return False
    form.add_error(
        None,
        _("%(grid)s is retired: its purposes and grid workers can no longer be changed.")
        % {"grid": grid.name},
    )
    return True


def _grid_form_page(
    request: HttpRequest, grid: Grid, form: forms.Form, **context: Any
) -> HttpResponse:
    status = 400 if request.method == "POST" else 200
    context = {"grid": grid, "form": form, **context}
    return render(request, "territory/grid_form.html", context, status=status)


@login_required
def grid_purposes(request: HttpRequest, code: str) -> HttpResponse:
    """What the grid is used for (多网融合): GET shows the choices, POST saves them."""
    grid = _grid_for_edit(request, code)
    form = GridPurposesForm(_posted(request), initial={"purposes": list(grid.purposes or [])})
    if request.method == "POST" and form.is_valid() and not _refuse_if_retired(form, grid):
        try:
            grid_io.set_grid_purposes(request.user, grid, form.cleaned_data["purposes"])
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The grid's purposes were saved."))
            return redirect(grid.get_absolute_url())
    return _grid_form_page(
        request,
        grid,
        form,
        title=_("Purposes of the grid"),
        help=_("One grid serves several networks (多网融合): tick each one this grid is used for."),
        submit=_("Save"),
    )


@login_required
def grid_worker_add(request: HttpRequest, code: str) -> HttpResponse:
    """Assign a grid worker (full-time or part-time) to the grid."""
    grid = _grid_for_edit(request, code)
    form = GridWorkerForm(_posted(request), grid=grid)
    if request.method == "POST" and form.is_valid() and not _refuse_if_retired(form, grid):
        data = form.cleaned_data
        try:
            grid_io.assign_grid_worker(
                request.user, grid, data["user"], data["kind"], data["since"]
            )
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(
                request, _("%(user)s now works on this grid.") % {"user": data["user"]}
            )
            return redirect(grid.get_absolute_url())
    return _grid_form_page(
        request,
        grid,
        form,
        title=_("Assign a grid worker"),
        help=_("A grid may have several workers; each is assigned once at a time."),
        submit=_("Assign"),
    )


@login_required
def grid_worker_end(request: HttpRequest, code: str, pk: str) -> HttpResponse:
    """End one of the grid's assignments (kept, with its last day)."""
    grid = _grid_for_edit(request, code)
    number = parse_id(pk)
    if number is None:
        raise Http404
    rows = visible(GridWorker, request.user).select_related("user")
    assignment = get_object_or_404(rows, pk=number, grid=grid)
    form = GridWorkerEndForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            grid_io.end_grid_worker(request.user, assignment, form.cleaned_data["until"])
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(
                request,
                _("%(user)s no longer works on this grid.") % {"user": assignment.user},
            )
            return redirect(grid.get_absolute_url())
    return _grid_form_page(
        request,
        grid,
        form,
        title=_("End a grid worker's assignment"),
        help=_end_help(assignment),
        submit=_("End the assignment"),
        assignment=assignment,
    )


def _end_help(assignment: GridWorker) -> str:
    values = {
        "user": assignment.user,
        "kind": assignment.get_kind_display(),
        "since": assignment.since.isoformat(),
        "until": assignment.until.isoformat() if assignment.until else "",
    }
    if assignment.until is not None:
        return _("%(user)s (%(kind)s) worked on this grid from %(since)s to %(until)s.") % values
    return _("%(user)s (%(kind)s) has worked on this grid since %(since)s.") % values


urlpatterns: list[URLPattern] = [
    path("grids/<str:code>/purposes/", grid_purposes, name="grid_purposes"),
    path("grids/<str:code>/workers/add/", grid_worker_add, name="grid_worker_add"),
    path("grids/<str:code>/workers/<str:pk>/end/", grid_worker_end, name="grid_worker_end"),
    path("grids/import/", grid_import, name="grid_import"),
    path("grids/export/", grid_export, name="grid_export"),
    path("streets/<str:code>/grid-check/", grid_check, name="grid_check"),
]

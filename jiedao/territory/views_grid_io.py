"""Grid layer pages: import (dry run, then confirm), export, and a street's grid check.

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
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
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
        self.fields["user"].queryset = grid_worker_candidates(grid)  # type: ignore[attr-defined]


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


urlpatterns: list[URLPattern] = [
    path("grids/import/", grid_import, name="grid_import"),
    path("grids/export/", grid_export, name="grid_export"),
    path("streets/<str:code>/grid-check/", grid_check, name="grid_check"),
]

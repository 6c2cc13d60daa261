"""Field-work pages: the grid worker's day on the phone (patrol, findings, visits, to-do), the
track upload for the phone's recorder, and the supervisors' patrol list and attendance.

Views parse and show; ``services`` write (and refuse with reasons), ``selectors`` read under
the user's scope, ``rules`` say who may open what."""

from __future__ import annotations

import json
import uuid
from datetime import date
from types import SimpleNamespace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from jiedao.cases import selectors as case_selectors
from jiedao.core.export import audited_xlsx
from jiedao.core.fields import redact_numbers
from jiedao.core.shell import grid_worker_registry_tiles
from jiedao.core.views_base import parse_id
from jiedao.fieldwork import selectors, services, track
from jiedao.fieldwork.forms import EndForm, MonthForm, PatrolFilterForm, VisitForm
from jiedao.fieldwork.models import Patrol
from jiedao.fieldwork.outbox import outbox_settings
from jiedao.fieldwork.rules import is_supervisor, require_part, require_worker
from jiedao.registry.models import Household
from jiedao.territory.models import Grid

PER_PAGE = 50


def _key() -> str:
    """A fresh idempotency key for a form the phone may send more than once."""
    return uuid.uuid4().hex


def _fail(request: HttpRequest, error: ValidationError) -> None:
    messages.error(request, " ".join(error.messages))


def _recorder_texts() -> str:
    texts = {
        "recorded": _("Recorded: %(n)s"),
        "waiting": _("Waiting to send: %(n)s"),
        "gps_waiting": _("Waiting for the first GPS fix…"),
        "gps_ok": _("GPS on (± %(m)s m)"),
        "gps_denied": _(
            "Location is blocked for this site: allow it in the browser's settings, "
            "or the patrol is recorded without a track."
        ),
        "gps_unavailable": _("This phone cannot give a location right now."),
        "gps_none": _("This browser cannot give a location."),
        "offline": _("No network: the points are kept on this phone and sent later."),
        "sign_in": _("Sign in again to send the points kept on this phone."),
        "refused": _("The server did not accept some points: %(reason)s"),
        "recording": _("Recording the patrol"),
        "ended": _("The patrol has ended; the last points are being sent."),
    }
    return json.dumps(texts, ensure_ascii=False)


# --- The grid worker's day ------------------------------------------------------------------


@login_required
def today(request: HttpRequest) -> HttpResponse:
    """The grid worker's day on the phone: the patrol (start, continue, end), finding and
    visit buttons, today's figures and the to-do."""
    user: Any = request.user
    require_worker(user)
    todo = case_selectors.grid_worker_todo(user)
    cases_url = reverse("cases:todo")
    tiles = [
        {"label": _("Verify on site"), "count": todo["verify"].count(), "url": cases_url},
        {"label": _("Call the caller back"), "count": todo["callback"].count(), "url": cases_url},
        *grid_worker_registry_tiles(user),
    ]
    current = selectors.open_patrol(user)
    context = {
        "patrol": current,
        "grids": selectors.worker_grids(user),
        "figures": selectors.today(user),
        "tiles": tiles,
        "recent": selectors.recent_patrols(user),
        "key": _key(),
        "end_form": EndForm(initial={"key": _key()}) if current else None,
        "outbox": outbox_settings(user),
        "recorder_texts": _recorder_texts(),
        "today": timezone.localdate(),
    }
    return render(request, "fieldwork/today.html", context)


@never_cache
@login_required
@require_POST
def patrol_start(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_worker(user)
    grids = selectors.worker_grids(user)
    grid_id = parse_id(request.POST.get("grid"))
    if grid_id is None and len(grids) == 1:
        grid_id = grids[0].pk
    grid = Grid.all_objects.filter(pk=grid_id).first() if grid_id else None
    if grid is None:
        messages.error(request, _("Choose the grid you patrol."))
        return redirect("fieldwork:today")
    try:
        patrol = services.start_patrol(
            user, grid, request.POST.get("key", ""), at=request.POST.get("queued_at")
        )
    except ValidationError as error:
        _fail(request, error)
        return redirect("fieldwork:today")
    messages.success(
        request,
        _("Patrol started at %(time)s.")
        % {"time": timezone.localtime(patrol.started_at).strftime("%H:%M")},
    )
    return redirect("fieldwork:today")


def _visible_patrol(request: HttpRequest, pk: int) -> Patrol:
    try:
        return selectors.patrol(request.user, pk)
    except Patrol.DoesNotExist as exc:
        raise Http404(_("No such patrol.")) from exc


@never_cache
@login_required
@require_POST
def patrol_end(request: HttpRequest, pk: int) -> HttpResponse:
    """The worker ends their patrol: always their own, wherever they work now."""
    user: Any = request.user
    patrol = selectors.own_patrol(user, pk)
    if patrol is None:
        require_worker(user)
        patrol = _visible_patrol(request, pk)  # 404, or 403 from the service: not theirs
    form = EndForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    try:
        # The key as sent: one the form would cut or drop is refused, never ignored (the
        # outbox resends the form and only the key keeps a resend from ending it twice).
        key = services.clean_key(request.POST.get("key", ""))
    except ValidationError as error:
        _fail(request, error)
        response = patrol_detail(request, pk)
        response.status_code = 400
        return response
    try:
        patrol = services.end_patrol(
            user,
            patrol,
            data.get("note", request.POST.get("note", "")[: services.MAX_NOTE + 1]),
            key,
            at=data.get("queued_at"),
        )
    except ValidationError as error:
        _fail(request, error)
        return redirect(patrol)
    messages.success(
        request,
        _("Patrol ended: %(km)s km, %(points)d track points.")
        % {"km": f"{patrol.distance_m / 1000:.1f}", "points": patrol.point_count},
    )
    return redirect(patrol)


@never_cache
@login_required
@require_POST
def patrol_close(request: HttpRequest, pk: int) -> HttpResponse:
    """A supervisor of the patrol's territory closes a patrol its worker left open."""
    user: Any = request.user
    require_part(user)
    patrol = _visible_patrol(request, pk)
    try:
        patrol = services.close_patrol(user, patrol)
    except ValidationError as error:
        _fail(request, error)
        return redirect(patrol)
    messages.success(
        request,
        _("Patrol closed at %(time)s.")
        % {"time": timezone.localtime(patrol.ended_at).strftime("%Y-%m-%d %H:%M")},
    )
    return redirect(patrol)


# --- Track upload (JSON) --------------------------------------------------------------------


def _json_error(code: str, message: Any, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "message": str(message)}, status=status)


@never_cache
@require_POST
def track_upload(request: HttpRequest, pk: int) -> JsonResponse:
    """``POST {"points": [{"t", "lat", "lng", "accuracy"}], "crs": "wgs84"}`` (CSRF token in the
    ``X-CSRFToken`` header). 200 with the counts (``services.TrackResult``), also when some or
    all points were rejected; 400 for a malformed request (nothing stored); 401, 403, 404."""
    user: Any = request.user
    if not user.is_authenticated:
        return _json_error("not_signed_in", _("Sign in again."), 401)
    try:
        patrol = selectors.patrol(user, pk)
    except Patrol.DoesNotExist:
        return _json_error("not_found", _("No such patrol."), 404)
    try:
        data = json.loads(request.body)
    except RequestDataTooBig:
        return _json_error("too_large", _("Send fewer points at a time."), 413)
    except (ValueError, UnicodeDecodeError):
        return _json_error("bad_json", _("The request is not valid JSON."), 400)
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        return _json_error(
            "bad_request", _('Send an object with a list of points: {"points": [...]}.'), 400
        )
    try:
        result = services.record_track(user, patrol, data["points"], data.get("crs", "wgs84"))
    except PermissionDenied as error:
        return _json_error("forbidden", error, 403)
    except ValidationError as error:
        return _json_error(error.code or "invalid", " ".join(error.messages), 400)
    return JsonResponse(result.as_json())


@never_cache
def whoami(request: HttpRequest) -> JsonResponse:
    """Who is signed in (the outbox resends a kept form only for the user who filled it in)."""
    if not request.user.is_authenticated:
        return _json_error("not_signed_in", _("Sign in again."), 401)
    return JsonResponse({"user": request.user.pk})


# --- Patrol page ----------------------------------------------------------------------------


@login_required
def patrol_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    patrol = selectors.own_patrol(user, pk)  # a worker always sees their own patrols
    if patrol is None:
        require_part(user)
        patrol = _visible_patrol(request, pk)
    own_open = patrol.ended_at is None and patrol.worker_id == user.pk
    context = {
        "patrol": patrol,
        "findings": selectors.findings_of(patrol, user),
        "geojson": selectors.patrol_geojson(patrol, user, _("Case")),
        "own_open": own_open,
        "may_close": patrol.ended_at is None and not own_open and is_supervisor(user, patrol),
        "end_form": EndForm(initial={"key": _key()}) if own_open else None,
        "outbox": outbox_settings(user),
        "recorder_texts": _recorder_texts(),
    }
    return render(request, "fieldwork/patrol_detail.html", context)


# --- Patrol list (supervisors) --------------------------------------------------------------

PATROL_COLUMNS = [
    ("started_at", gettext_lazy("Started at")),
    ("ended_at", gettext_lazy("Ended at")),
    ("worker", gettext_lazy("Grid worker")),
    ("grid", gettext_lazy("Grid")),
    ("hours", gettext_lazy("Hours")),
    ("km", gettext_lazy("Distance (km)")),
    ("points", gettext_lazy("Track points")),
    ("flagged", gettext_lazy("Flagged points")),
    ("findings", gettext_lazy("Findings")),
    ("note", gettext_lazy("Note")),
]


def _patrol_rows(rows: Any) -> Any:
    for patrol in rows.iterator(chunk_size=2000):
        yield SimpleNamespace(
            started_at=patrol.started_at,
            ended_at=patrol.ended_at,
            worker=str(patrol.worker),
            grid=patrol.grid.name,
            hours=patrol.hours,
            km=patrol.km,
            points=patrol.point_count,
            flagged=patrol.flagged_count,
            findings=patrol.findings_count,
            # Free text: a phone or identity number typed into it does not leave unmasked.
            note=redact_numbers(patrol.note),
        )


@login_required
def patrol_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_part(user)
    form = PatrolFilterForm(
        request.GET or None,
        workers=selectors.workers(user),
        grids=selectors.grid_choices(user),
    )
    chosen: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()
        chosen = form.cleaned_data
    rows = selectors.patrol_list(
        user,
        worker=chosen.get("worker") or None,
        grid=chosen.get("grid") or "",
        since=chosen.get("since"),
        until=chosen.get("until"),
    )
    if request.GET.get("format") == "xlsx":
        return audited_xlsx(request, "patrols", PATROL_COLUMNS, _patrol_rows(rows))
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "fieldwork/patrol_list.html", {"form": form, "page_obj": page})


# --- Household visit ------------------------------------------------------------------------


def _household(request: HttpRequest, raw: Any) -> Household | None:
    pk = parse_id(raw)
    if pk is None:
        return None
    try:
        return selectors.household_to_visit(request.user, pk)
    except Household.DoesNotExist as exc:
        raise Http404(_("No such household in your grid.")) from exc


@never_cache
@login_required
def visit(request: HttpRequest) -> HttpResponse:
    """Find a household of the grid by its address and record a visit with a note."""
    user: Any = request.user
    require_worker(user)
    if request.method == "POST":
        form = VisitForm(request.POST)
        household = _household(request, request.POST.get("household"))
        if household is not None and form.is_valid():
            data = form.cleaned_data
            try:
                services.record_household_visit(
                    user, household, data["note"], data["key"], at=data["queued_at"]
                )
            except ValidationError as error:
                _show(form, error)
            else:
                messages.success(
                    request,
                    _("Visit to %(place)s recorded.") % {"place": household.dwelling.address},
                )
                return redirect("fieldwork:today")
    else:
        household = _household(request, request.GET.get("household"))
        form = VisitForm(initial={"household": household.pk if household else None, "key": _key()})
    q = request.GET.get("q", "")[:100]
    context = {
        "form": form,
        "household": household,
        "q": q,
        "hits": list(selectors.households_to_visit(user, q)) if q and household is None else [],
        "outbox": outbox_settings(user),
    }
    return render(request, "fieldwork/visit.html", context)


def _show(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


# --- Attendance -----------------------------------------------------------------------------

ATTENDANCE_COLUMNS = [
    ("worker", gettext_lazy("Grid worker")),
    ("grids", gettext_lazy("Grid")),
    ("working_days", gettext_lazy("Working days")),
    ("field_working_days", gettext_lazy("Working days with field work")),
    ("field_days", gettext_lazy("Days with field work")),
    ("rate", gettext_lazy("Attendance rate (%)")),
    ("patrols", gettext_lazy("Patrols")),
    ("hours", gettext_lazy("Hours on patrol")),
    ("km", gettext_lazy("Distance (km)")),
    ("findings", gettext_lazy("Findings")),
    ("visits", gettext_lazy("Household visits")),
]


def _chart(rows: list[selectors.AttendanceRow]) -> str:
    """Attendance rate per worker, one horizontal bar each."""
    option = {
        "grid": {"left": 8, "right": 24, "top": 32, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0},
        "yAxis": {"type": "category", "inverse": True, "data": [str(r.worker) for r in rows]},
        "xAxis": {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {
                "type": "bar",
                "name": _("Attendance rate (%)"),
                "data": [r.rate if r.rate is not None else 0 for r in rows],
                "itemStyle": {"color": "#0b3d91"},
                "label": {"show": True, "position": "right", "formatter": "{c}%"},
            }
        ],
    }
    return json.dumps(option, ensure_ascii=False)


@login_required
def attendance(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_part(user)
    form = MonthForm(request.GET or None)
    month: date | None = None
    if form.is_bound and form.is_valid():
        month = form.cleaned_data["month"]
    month = month or timezone.localdate().replace(day=1)
    report = selectors.attendance(user, month)
    if request.GET.get("format") == "xlsx":
        return audited_xlsx(request, f"attendance-{month:%Y-%m}", ATTENDANCE_COLUMNS, report.rows)
    context = {
        "form": form,
        "month": month,
        "report": report,
        "chart": _chart(report.rows),
        "chart_height": max(200, 60 + 36 * len(report.rows)),
        "max_hours": selectors.MAX_PATROL_HOURS,
        "thresholds": {"accuracy": track.MAX_ACCURACY_M, "speed": track.MAX_SPEED_M_S},
    }
    return render(request, "fieldwork/attendance.html", context)

"""Case pages: the dispatcher's desk, handler inboxes, the grid worker's to-do, the case page
with its actions, intake forms (resident, hotline, patrol), "my cases" and the public map.

Views only parse and show; the services decide what is allowed (and say why not)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from jiedao.accounts.roles import Role
from jiedao.cases import selectors, summons
from jiedao.cases.forms import (
    ActionForm,
    DeskFilterForm,
    HotlineForm,
    PartForm,
    PatrolForm,
    ReportForm,
    SummonsForm,
)
from jiedao.cases.models import CALLER_FIELDS, Case, Channel, Node, Summons
from jiedao.cases.services import (
    MAX_REASON,
    TransitionConflict,
    reveal_contact,
    submit_case,
    transition,
)
from jiedao.cases.workflow import (
    DISPATCHERS,
    HANDLERS,
    TABLE,
    Action,
    possible_actions,
)
from jiedao.core.crypto import normalise_phone
from jiedao.core.export import audited_xlsx
from jiedao.core.scopes import unscoped
from jiedao.core.shell import grid_worker_registry_tiles
from jiedao.territory.models import Community, Department, Grid

DESK_QUEUES = [
    "received",
    "registered",
    "dispatched",
    "acknowledged",
    "in_progress",
    "handled",
    "verified",
    "overdue",
    "nearly_due",
    "extension",
    "unrated",
]
BULK_ACTIONS = (Action.REGISTER, Action.DISPATCH, Action.CLOSE)
MAP_POINTS = 500
# Every workflow step an action form may need extra fields for.
NEEDS_RATING = {Action.CALLBACK}
NEEDS_HANDLER = {Action.DISPATCH}
NEEDS_PHOTOS = {Action.FINISH, Action.VERIFY, Action.REWORK}


def _require_roles(user: Any, roles: frozenset[str]) -> None:
    if not (user.roles & roles or user.has_role(Role.SYSTEM_ADMIN)):
        raise PermissionDenied(_("This page is not part of your role."))


def _page(request: HttpRequest, rows: Any, per_page: int = 50) -> Any:
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def _fail(request: HttpRequest, error: Exception) -> None:
    if isinstance(error, ValidationError):
        messages.error(request, " ".join(error.messages))
    else:
        messages.error(request, str(error) or _("You may not do this."))


CASE_COLUMNS = [
    ("pk", _("No.")),
    ("category.name", _("Category")),
    ("get_node_display", _("Node")),
    ("grid.name", _("Grid")),
    ("handler_label", _("Handler")),
    ("created_at", _("Received at")),
    ("resolve_due", _("Resolve by")),
    # Masked (domain.md §10), and blank where the exporter may not see the contact at all.
    ("export_caller_name", _("Caller")),
    ("export_caller_phone", _("Caller's phone")),
]


# --- Desk -----------------------------------------------------------------------------------


@login_required
def desk(request: HttpRequest) -> HttpResponse:
    """The dispatcher's desk: queues by node and deadline, filters, bulk steps, a map."""
    _require_roles(request.user, DISPATCHERS)
    if request.method == "POST":
        return _bulk(request)
    queue = request.GET.get("queue", "received")
    if queue not in DESK_QUEUES:
        queue = "received"
    base = selectors.in_territory(request.user, DISPATCHERS)
    filters = DeskFilterForm(request.GET or None)
    rows = _filtered(base, filters)
    counts = selectors.queue_counts(rows, DESK_QUEUES)
    rows = rows.filter(selectors.queue_q(queue)).order_by("resolve_due", "created_at", "pk")
    if request.GET.get("format") == "xlsx":
        return audited_xlsx(request, "cases", CASE_COLUMNS, _masked_rows(request.user, rows))
    page = _page(request, rows)
    context = {
        "queue": queue,
        "queues": [(name, _queue_label(name), counts[name]) for name in DESK_QUEUES],
        "filters": filters,
        "page_obj": page,
        "map_cases": [c for c in rows[:MAP_POINTS] if c.lng is not None],
        "bulk_actions": [(a.value, a.label) for a in BULK_ACTIONS if _queue_allows(queue, a)],
    }
    template = "cases/_desk_rows.html" if request.htmx else "cases/desk.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _masked_rows(user: Any, rows: Any) -> Iterator[Case]:
    """The export's rows with the caller's contact masked (never the plaintext)."""
    for case in rows.iterator(chunk_size=2000):
        contact = selectors.sees_caller_contact(user, case)
        for field in CALLER_FIELDS:
            shown = selectors.masked_contact(case, field) if contact else ""
            setattr(case, f"export_{field}", shown)
        yield case


def _filtered(rows: Any, form: DeskFilterForm) -> Any:
    if not form.is_bound or not form.is_valid():
        return rows
    data = form.cleaned_data
    if data["q"]:
        term = data["q"].strip()
        rows = (
            rows.filter(pk=int(term))
            if term.isdecimal() and len(term) < 12
            else rows.filter(description__icontains=term)
        )
    if data["category"]:
        rows = rows.filter(category__parent=data["category"])
    if data["community"]:
        rows = rows.filter(community_code=data["community"])
    if data["urgent"]:
        rows = rows.filter(urgent=True)
    return rows


def _queue_label(queue: str) -> str:
    if queue in Node.values:
        return str(Node(queue).label)
    return {
        "overdue": _("Overdue"),
        "nearly_due": _("Due within 24 h"),
        "unrated": _("Closed, to call back"),
        "extension": _("Extensions to decide"),
    }[queue]


def _queue_allows(queue: str, action: Action) -> bool:
    return queue in Node.values and (queue, action) in TABLE


def _bulk(request: HttpRequest) -> HttpResponse:
    """Apply one step to the selected cases; each case succeeds or fails on its own."""
    action = request.POST.get("action", "")
    if action not in {a.value for a in BULK_ACTIONS}:
        messages.error(request, _("Choose a step for the selected cases."))
        return redirect(request.get_full_path())
    ids = [int(v) for v in request.POST.getlist("case") if v.isdecimal() and len(v) < 12][:200]
    done, failed = 0, []
    for case in selectors.in_territory(request.user, DISPATCHERS).filter(pk__in=ids):
        try:
            transition(request.user, case, action)
            done += 1
        except (ValidationError, PermissionDenied, TransitionConflict) as error:
            failed.append(f"#{case.pk}: {' '.join(getattr(error, 'messages', [str(error)]))}")
    if done:
        messages.success(request, _("%(n)d cases done.") % {"n": done})
    for line in failed:
        messages.error(request, line)
    if not ids:
        messages.error(request, _("Select at least one case."))
    return redirect(request.get_full_path())


# --- Inboxes --------------------------------------------------------------------------------


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """The handler's inbox: cases their department, community workstation or street office
    holds now, and 吹哨 summonses waiting for their department."""
    _require_roles(request.user, HANDLERS)
    filters = DeskFilterForm(request.GET or None)
    rows = _filtered(selectors.handler_inbox(request.user), filters)
    queue = request.GET.get("queue", "")
    if queue in Node.values:
        rows = rows.filter(node=queue)
    context = {
        "filters": filters,
        "page_obj": _page(request, rows),
        "summonses": Paginator(selectors.department_summonses(request.user), 50).get_page(
            request.GET.get("summons_page")
        ),
        "queue": queue,
        "queues": [
            (n.value, n.label)
            for n in (Node.DISPATCHED, Node.ACKNOWLEDGED, Node.IN_PROGRESS, Node.HANDLED)
        ],
    }
    return render(request, "cases/inbox.html", context)


@login_required
def todo(request: HttpRequest) -> HttpResponse:
    """The grid worker's to-do: verify handled cases on site, call back closed ones."""
    _require_roles(request.user, frozenset({Role.GRID_WORKER}))
    lists = selectors.grid_worker_todo(request.user)
    context = {
        "verify": Paginator(lists["verify"], 50).get_page(request.GET.get("verify_page")),
        "callback": Paginator(lists["callback"], 50).get_page(request.GET.get("callback_page")),
        "door_to_door": grid_worker_registry_tiles(request.user),
    }
    return render(request, "cases/todo.html", context)


# --- The case page --------------------------------------------------------------------------


def _visible_case(request: HttpRequest, pk: int) -> Case:
    try:
        return selectors.case(request.user, pk)
    except Case.DoesNotExist as exc:
        raise Http404(_("No such case.")) from exc


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = _visible_case(request, pk)
    return render(request, "cases/detail.html", _detail_context(request, case))


def _detail_context(
    request: HttpRequest, case: Case, revealed: dict[str, str] | None = None
) -> dict[str, Any]:
    user = request.user
    staff = selectors.is_staff_viewer(user) or user.is_superuser
    context: dict[str, Any] = {
        "case": case,
        "staff_view": staff,
        "events": selectors.events_of(case),
        "photos": selectors.attachments_of(case),
        "summonses": selectors.summonses_of(case),
        "actions": _action_forms(user, case) if staff else [],
        "rate_form": _rate_form(user, case),
        "may_summon": staff and summons.may_summon(user, case),
        "sees_contact": staff and selectors.sees_caller_contact(user, case),
        "contact": _contact(case, revealed or {}),
        "answerable": {
            s.pk
            for s in selectors.summonses_of(case)
            if summons.acts_for_department(user, s.department_id)
        },
    }
    if context["may_summon"]:
        context["summons_form"] = SummonsForm(departments=_district_departments(case))
    context["part_form"] = PartForm()
    return context


def _contact(case: Case, revealed: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each caller field as shown: masked, or the plaintext just revealed."""
    return {
        field: {
            "shown": revealed.get(field) or selectors.masked_contact(case, field),
            "revealed": field in revealed,
            "present": bool(getattr(case, field)),
            "dial": normalise_phone(revealed.get(field, "")) if field == "caller_phone" else "",
        }
        for field in CALLER_FIELDS
    }


@never_cache
@login_required
@require_POST
def reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the caller's name or phone after asking why (one audit entry per reveal). htmx
    swaps in the one field; without JavaScript the case page comes back with it shown."""
    case = _visible_case(request, pk)
    field = request.POST.get("field", "")
    if field not in CALLER_FIELDS:
        raise Http404(_("No such field."))
    error = ""
    try:
        value = reveal_contact(
            request.user, case, field, request.POST.get("reason", "")[: MAX_REASON * 2]
        )
    except ValidationError as exc:
        value, error = "", " ".join(exc.messages)
    revealed = {field: value} if value else {}
    if request.htmx:  # type: ignore[attr-defined]
        context = {
            "case": case,
            "field": field,
            "item": _contact(case, revealed)[field],
            "error": error,
        }
        return render(request, "cases/_caller_field.html", context)
    if error:
        messages.error(request, error)
    return render(request, "cases/detail.html", _detail_context(request, case, revealed))


def _district_departments(case: Case) -> Any:
    with unscoped():
        return Department.objects.filter(territory_code__startswith=case.territory_code[:6])


def _action_forms(user: Any, case: Case) -> list[dict[str, Any]]:
    """One small form per step the user may take now."""
    forms = []
    for action in possible_actions(user, case):
        if action == Action.MERGE:
            continue  # merging is offered with the duplicate candidates
        form = ActionForm(
            initial={"action": action, "expected_node": case.node},
            departments=_district_departments(case) if action in NEEDS_HANDLER else None,
        )
        forms.append(
            {
                "action": action,
                "label": Action(action).label,
                "form": form,
                "rating": action in NEEDS_RATING,
                "handler": action in NEEDS_HANDLER,
                "photos": action in NEEDS_PHOTOS,
            }
        )
    return forms


def _rate_form(user: Any, case: Case) -> ActionForm | None:
    """The resident rates their own closed case (the callback step, by the caller)."""
    if case.reporter_id != user.pk or case.node != Node.CLOSED or case.rating:
        return None
    return ActionForm(initial={"action": Action.CALLBACK, "expected_node": case.node})


@login_required
@require_POST
def act(request: HttpRequest, pk: int) -> HttpResponse:
    """Take one workflow step (with an optional note and photos)."""
    case = _visible_case(request, pk)
    form = ActionForm(request.POST, request.FILES, departments=_district_departments(case))
    if not form.is_valid():
        messages.error(
            request, _("The form was not complete: %(errors)s") % {"errors": _errors(form)}
        )
        return redirect(case)
    data = form.cleaned_data
    try:
        with transaction.atomic():
            transition(
                request.user,
                case,
                data["action"],
                data["note"],
                expected_node=data["expected_node"],
                **form.transition_data(),
            )
            if data["photos"]:
                _store_photos(
                    request.user, case, data["photos"], event=selectors.events_of(case).last()
                )
    except (ValidationError, PermissionDenied, TransitionConflict) as error:
        _fail(request, error)
        return redirect(case)
    messages.success(request, _("Done: %(step)s.") % {"step": Action(data["action"]).label})
    return redirect(case)


def _store_photos(actor: Any, case: Case, files: list[Any], event: Any = None) -> None:
    from jiedao.cases.attachments import store_photos

    store_photos(actor, case, files, event=event)


def _errors(form: Any) -> str:
    return "; ".join(
        f"{form.fields[f].label if f in form.fields else ''} {' '.join(e)}".strip()
        for f, e in form.errors.items()
    )


@login_required
@require_POST
def summon(request: HttpRequest, pk: int) -> HttpResponse:
    """吹哨: summon district departments to the case."""
    case = _visible_case(request, pk)
    form = SummonsForm(request.POST, departments=_district_departments(case))
    if not form.is_valid():
        messages.error(request, _errors(form))
        return redirect(case)
    try:
        made = summons.summon_departments(
            request.user,
            case,
            form.cleaned_data["departments"],
            form.cleaned_data["reason"],
            report_hours=form.cleaned_data["report_hours"],
        )
    except (ValidationError, PermissionDenied) as error:
        _fail(request, error)
        return redirect(case)
    messages.success(request, _("%(n)d departments summoned.") % {"n": len(made)})
    return redirect(case)


def _summons_for(request: HttpRequest, pk: int) -> Summons:
    with unscoped():
        found = Summons.objects.filter(pk=pk).select_related("case").first()
    if found is None:
        raise Http404(_("No such summons."))
    _visible_case(request, found.case_id)
    return found


@login_required
@require_POST
def summons_report(request: HttpRequest, pk: int) -> HttpResponse:
    """报到: the summoned department acknowledges."""
    found = _summons_for(request, pk)
    try:
        summons.report_to_case(request.user, found, request.POST.get("note", ""))
        messages.success(request, _("Reported (报到)."))
    except (ValidationError, PermissionDenied) as error:
        _fail(request, error)
    return redirect(found.case)


@login_required
@require_POST
def summons_part(request: HttpRequest, pk: int) -> HttpResponse:
    found = _summons_for(request, pk)
    form = PartForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Describe what the department did."))
        summons.record_part(request.user, found, form.cleaned_data["part"])
        messages.success(request, _("The department's part is recorded."))
    except (ValidationError, PermissionDenied) as error:
        _fail(request, error)
    return redirect(found.case)


# --- Intake ---------------------------------------------------------------------------------


def _community_codes(user: Any) -> list[str]:
    return sorted({g.node_code for g in user.active_grants if g.node_code})


def _intake(
    request: HttpRequest, form: Any, channel: str, **extra: Any
) -> tuple[Case | None, bool]:
    """Submit the form's case (and its photos) in one transaction; errors go on the form."""
    data = form.cleaned_data
    try:
        with transaction.atomic():
            intake = submit_case(
                request.user,
                channel=channel,
                category=data["category"],
                description=data["description"],
                lng=data.get("lng"),
                lat=data.get("lat"),
                crs=data.get("crs") or "wgs84",
                address=data.get("address"),
                urgent=data.get("urgent", False),
                caller_name=data.get("caller_name", ""),
                caller_phone=data.get("caller_phone", ""),
                anonymous=data.get("anonymous", False),
                # A double-clicked or re-sent form finds the first case.
                idempotency_key=_submission_key(request),
                **extra,
            )
            if intake.created and data.get("photos"):
                _store_photos(request.user, intake.case, data["photos"])
    except ValidationError as error:
        form.add_error(None, error)
        return None, False
    return intake.case, intake.created


def _submission_key(request: HttpRequest) -> str:
    token = request.POST.get("submission", "")
    return f"web:{request.user.pk}:{token[:64]}" if token else ""


@login_required
def report(request: HttpRequest) -> HttpResponse:
    """A resident reports a problem: what, where (map, GPS or address), photos."""
    prefixes = _community_codes(request.user)
    form = ReportForm(
        request.POST or None,
        request.FILES or None,
        address_prefixes=prefixes,
        initial={"caller_name": request.user.get_full_name()},  # type: ignore[union-attr]
    )
    if request.method == "POST" and form.is_valid():
        case, created = _intake(request, form, Channel.WEB)
        if case is not None:
            _say_received(request, case, created, _("Thank you. Your report is number %(n)d."))
            return redirect(case)
    return render(
        request,
        "cases/intake.html",
        _intake_context(request, form, _("Report a problem"), prefixes),
    )


def _intake_context(
    request: HttpRequest, form: Any, title: str, prefixes: list[str]
) -> dict[str, Any]:
    with unscoped():
        areas = list(Community.objects.filter(code__in=prefixes)) or list(
            Grid.objects.filter(code__in=prefixes)
        )
    return {"form": form, "title": title, "areas": areas, "submission": uuid.uuid4().hex}


def _say_received(request: HttpRequest, case: Case, created: bool, message: str) -> None:
    """A form sent again (back button, double tap) finds the first case: say so."""
    if created:
        messages.success(request, message % {"n": case.pk})
    else:
        messages.info(
            request, _("This form was already sent: it is number %(n)d.") % {"n": case.pk}
        )


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """A resident's own cases with their status."""
    rows = selectors.reported_by(request.user).order_by("-created_at")
    return render(request, "cases/mine.html", {"page_obj": _page(request, rows, 20)})


@login_required
def hotline(request: HttpRequest) -> HttpResponse:
    """The hotline and service-centre desk: phone first, the caller's history beside."""
    _require_roles(request.user, DISPATCHERS)
    user: Any = request.user
    prefixes = sorted(user.scope_for(DISPATCHERS).prefixes) or [""]
    form = HotlineForm(request.POST or None, address_prefixes=prefixes)
    if request.method == "POST" and form.is_valid():
        case, created = _intake(request, form, form.cleaned_data["channel"])
        if case is not None:
            if created and form.cleaned_data["register_now"]:
                try:
                    transition(request.user, case, Action.REGISTER)
                except (ValidationError, PermissionDenied, TransitionConflict) as error:
                    _fail(request, error)
            messages.success(request, _("Case %(n)d recorded.") % {"n": case.pk})
            return redirect("cases:hotline")
    context = _intake_context(request, form, _("Hotline desk"), [])
    return render(request, "cases/hotline.html", context)


@login_required
def caller_history(request: HttpRequest) -> HttpResponse:
    """The caller's earlier cases (htmx, as the operator types the number)."""
    _require_roles(request.user, DISPATCHERS)
    phone = request.GET.get("caller_phone", "")[:32]
    rows = selectors.cases_by_phone(request.user, phone)
    return render(request, "cases/_caller_history.html", {"rows": rows, "phone": phone})


@login_required
def patrol(request: HttpRequest) -> HttpResponse:
    """A grid worker's finding on patrol (主动发现)."""
    from jiedao.fieldwork import services as fieldwork
    from jiedao.fieldwork.outbox import outbox_settings

    _require_roles(request.user, frozenset({Role.GRID_WORKER}))
    form = PatrolForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        case, created = _intake(request, form, Channel.PATROL)
        if case is not None:
            # On a patrol under way (or the one open when the phone queued the form offline),
            # the finding joins it; a resend links nothing twice.
            fieldwork.link_finding(request.user, case, at=request.POST.get("queued_at"))
            _say_received(request, case, created, _("Finding %(n)d reported."))
            return redirect(case)
    prefixes = _community_codes(request.user)
    context = _intake_context(request, form, _("Patrol report"), prefixes)
    # A form kept on the phone and resent when the network fails (frontend/src/outbox.js).
    context["outbox"] = outbox_settings(request.user)
    return render(request, "cases/intake.html", context)


def public_map(request: HttpRequest) -> HttpResponse:
    """Closed cases on a map for everyone: category and month only, places rounded."""
    points = selectors.public_closed_cases()
    geojson = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [p["lng"], p["lat"]]},
                "properties": {"name": f"{p['category']} · {p['month']}", "role": "child"},
            }
            for p in points
        ],
    }
    return render(
        request,
        "cases/public_map.html",
        {"geojson": json.dumps(geojson, ensure_ascii=False), "count": len(points)},
    )


urlpatterns: list[URLPattern] = [
    path("desk/", desk, name="desk"),
    path("inbox/", inbox, name="inbox"),
    path("todo/", todo, name="todo"),
    path("mine/", mine, name="mine"),
    path("report/", report, name="report"),
    path("hotline/", hotline, name="hotline"),
    path("hotline/history/", caller_history, name="caller_history"),
    path("patrol/", patrol, name="patrol"),
    path("map/", public_map, name="public_map"),
    path("<int:pk>/", detail, name="detail"),
    path("<int:pk>/act/", act, name="act"),
    path("<int:pk>/reveal/", reveal, name="reveal_contact"),
    path("<int:pk>/summon/", summon, name="summon"),
    path("summons/<int:pk>/report/", summons_report, name="summons_report"),
    path("summons/<int:pk>/part/", summons_part, name="summons_part"),
]

"""Registry pages: care groups, visit schedules and visits (走访).

Pages check the permission (``registry.browse`` to read, ``registry.change_person`` to tag,
``registry.verify`` to record a visit) and then work on what the selectors in
``jiedao.registry.care`` show inside the user's scope; the services there do the writes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from jiedao.core.export import audited_xlsx
from jiedao.core.fields import mask
from jiedao.core.selectors import visible
from jiedao.core.views_base import parse_id, show_service_errors
from jiedao.registry import care
from jiedao.registry.models import CareGroup, CareTag, Household, Person, Visit
from jiedao.registry.rules import require_registry_perm
from jiedao.territory.models import Grid

PER_PAGE = 50
MAP_BUILDINGS = 2000

# --- Forms ----------------------------------------------------------------------------------


def _grid_choices(user: Any) -> list[tuple[str, Any]]:
    grids = visible(Grid, user).order_by("code").values_list("code", "name")
    return [("", gettext_lazy("All grids")), *grids]


class CareFilterForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Person's name"), required=False, max_length=40)
    group = forms.ChoiceField(
        label=gettext_lazy("Care group"),
        required=False,
        choices=[("", gettext_lazy("All groups")), *CareGroup.choices],
    )
    grid = forms.ChoiceField(label=gettext_lazy("Grid"), required=False)
    state = forms.ChoiceField(
        label=gettext_lazy("Visits"),
        required=False,
        choices=[
            ("", gettext_lazy("All")),
            ("overdue", gettext_lazy("Overdue")),
            ("due_soon", gettext_lazy("Due soon")),
            ("scheduled", gettext_lazy("On a schedule")),
            ("unscheduled", gettext_lazy("No schedule")),
        ],
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["grid"].choices = _grid_choices(user)  # type: ignore[attr-defined]


class VisitLogFilterForm(forms.Form):
    grid = forms.ChoiceField(label=gettext_lazy("Grid"), required=False)
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        required=False,
        choices=[("", gettext_lazy("All kinds")), *Visit.Kind.choices],
    )
    since = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=gettext_lazy("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    person = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["grid"].choices = _grid_choices(user)  # type: ignore[attr-defined]


class VisitForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind of visit"), choices=Visit.Kind.choices)
    visited_at = forms.DateTimeField(
        label=gettext_lazy("Visited at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    note = forms.CharField(
        label=gettext_lazy("Notes from the visit"),
        required=False,
        max_length=care.MAX_VISIT_NOTE,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class TagForm(forms.Form):
    group = forms.ChoiceField(label=gettext_lazy("Care group"), choices=CareGroup.choices)
    visit_every_days = forms.IntegerField(
        label=gettext_lazy("Visit every (days)"),
        required=False,
        help_text=gettext_lazy(
            "Leave empty for the group's default (the elderly living alone: every 7 days)."
        ),
    )
    note = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=care.MAX_TAG_NOTE)


class ScheduleForm(forms.Form):
    visit_every_days = forms.IntegerField(
        label=gettext_lazy("Visit every (days)"),
        required=False,
        help_text=gettext_lazy("Empty: no schedule."),
    )


# --- Helpers --------------------------------------------------------------------------------


def _chosen(form: forms.Form) -> dict[str, Any]:
    """The filters that are valid (a bad one is dropped, the others still apply)."""
    if not form.is_bound:
        return {}
    form.is_valid()
    return form.cleaned_data


def _page(request: HttpRequest, rows: Any, param: str = "page") -> Any:
    return Paginator(rows, PER_PAGE).get_page(request.GET.get(param))


def _person_detail_url(person: Person) -> str:
    """The person page (another part of the registry), when it is installed."""
    try:
        return reverse("registry:person_detail", args=[person.pk])
    except NoReverseMatch:
        return ""


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.GET.get("next") or request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return default


def _decorate(tags: Any, user: Any, today: date, grid_names: dict[str, str]) -> None:
    """Per row: its grid's name, days overdue and whether the user may record a visit."""
    for tag in tags:
        tag.grid_name = grid_names.get(tag.territory_code, tag.territory_code)
        tag.days_late = (today - tag.next_visit_due).days if tag.next_visit_due else 0
        tag.may_visit = user.has_perm("registry.verify", tag)


def _where(person: Person) -> Any:
    return person.dwelling or person.registered_dwelling


# --- Care overview --------------------------------------------------------------------------

CARE_EXPORT_COLUMNS = [
    ("grid", gettext_lazy("Grid")),
    ("building", gettext_lazy("Building")),
    ("name", gettext_lazy("Person's name")),
    ("group", gettext_lazy("Care group")),
    ("since", gettext_lazy("Since")),
    ("every", gettext_lazy("Visit every (days)")),
    ("last_visit", gettext_lazy("Last visit")),
    ("next_due", gettext_lazy("Next visit due")),
]


def _care_export_rows(rows: QuerySet[CareTag], grid_names: dict[str, str]) -> Any:
    """Export rows with the name masked (王*明) and no identity number, phone or room."""
    for tag in rows.iterator(chunk_size=2000):
        where = _where(tag.person)
        yield SimpleNamespace(
            grid=grid_names.get(tag.territory_code, tag.territory_code),
            building=where.building.name if where else "",
            name=mask("name", tag.person.name),
            group=tag.get_group_display(),
            since=tag.since,
            every=tag.visit_every_days,
            last_visit=tag.last_visit_at,
            next_due=tag.next_visit_due,
        )


@login_required
def care_overview(request: HttpRequest) -> HttpResponse:
    """Care groups per grid (table and map) and the people in them, filtered and paginated."""
    user = request.user
    require_registry_perm(user, "registry.browse")
    form = CareFilterForm(request.GET or None, user=user)
    chosen = _chosen(form)
    group, grid_code = chosen.get("group", ""), chosen.get("grid", "")
    rows = care.care_list(
        user, group=group, grid_code=grid_code, q=chosen.get("q", ""), state=chosen.get("state", "")
    )
    grid_names = dict(visible(Grid, user).values_list("code", "name"))
    if request.GET.get("format") == "xlsx":
        return audited_xlsx(
            request, "care", CARE_EXPORT_COLUMNS, _care_export_rows(rows, grid_names)
        )
    page = _page(request, rows)
    today = timezone.localdate()
    _decorate(page.object_list, user, today, grid_names)
    counts = care.counts_by_grid(user, on=today)
    context = {
        "form": form,
        "page_obj": page,
        "grid_names": grid_names,
        "groups": CareGroup.choices,
        "counts": [dict(row, cells=[row["counts"][g] for g in CareGroup.values]) for row in counts],
        "totals": _totals(counts),
        "geojson": _care_map(user, counts, group, grid_code),
    }
    return render(request, "registry/care_overview.html", context)


def _totals(counts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "cells": [sum(row["counts"][g] for row in counts) for g in CareGroup.values],
        "total": sum(row["total"] for row in counts),
        "overdue": sum(row["overdue"] for row in counts),
    }


def _care_map(user: Any, counts: list[dict[str, Any]], group: str, grid_code: str) -> str:
    """Grids labelled with their care counts, and buildings with care tags as points. Labels
    name groups and buildings only, never a person (domain.md §10)."""
    by_code = {row["code"]: row for row in counts}
    features = []
    for grid in visible(Grid, user).filter(code__in=list(by_code)).only("code", "name", "boundary"):
        geometry = _boundary_geometry(grid.boundary)
        if geometry is None or (grid_code and not grid.code.startswith(grid_code)):
            continue
        row = by_code[grid.code]
        count = row["counts"][group] if group else row["total"]
        features.append(_feature(geometry, f"{grid.name} · {count}", "child", ""))
    for building in care.care_by_building(user, group, grid_code, limit=MAP_BUILDINGS):
        label = "; ".join(
            f"{CareGroup(g).label} {n}" for g, n in sorted(building["counts"].items())
        )
        point = {"type": "Point", "coordinates": [building["lng"], building["lat"]]}
        url = reverse("territory:building_detail", args=[building["building"]])
        features.append(_feature(point, f"{building['name']}: {label}", "point", url))
    if not features:
        return ""
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def _boundary_geometry(boundary: Any) -> dict[str, Any] | None:
    if not isinstance(boundary, dict):
        return None
    return boundary.get("geometry") if boundary.get("type") == "Feature" else boundary


def _feature(geometry: dict[str, Any], name: str, role: str, url: str) -> dict[str, Any]:
    properties = {"name": name, "role": role, "url": url}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


# --- Visit schedule (the grid worker's round) -----------------------------------------------


@login_required
def visit_schedule(request: HttpRequest) -> HttpResponse:
    """Who is due a care visit: overdue first, then due within two days."""
    user = request.user
    require_registry_perm(user, "registry.browse")
    today = timezone.localdate()
    overdue = _page(request, care.overdue_visits(user, on=today), "overdue_page")
    soon = _page(request, care.due_soon(user, on=today), "soon_page")
    grid_names = dict(visible(Grid, user).values_list("code", "name"))
    _decorate(overdue.object_list, user, today, grid_names)
    _decorate(soon.object_list, user, today, grid_names)
    context = {"overdue": overdue, "soon": soon, "today": today, "days": care.DUE_SOON_DAYS}
    return render(request, "registry/visit_schedule.html", context)


# --- Recording a visit ----------------------------------------------------------------------


def _visit_subject(request: HttpRequest) -> tuple[Person | None, Household | None]:
    """The person (``?person=``) or household (``?household=``) visited, in the user's scope."""
    person_id, household_id = (
        parse_id(request.GET.get("person")),
        parse_id(request.GET.get("household")),
    )
    person = household = None
    if person_id is not None:
        person = get_object_or_404(visible(Person, request.user), pk=person_id)
    if household_id is not None:
        household = get_object_or_404(visible(Household, request.user), pk=household_id)
    if person is None and household is None:
        raise Http404(_("Choose the person or household visited."))
    return person, household


@login_required
def visit_new(request: HttpRequest) -> HttpResponse:
    user = request.user
    require_registry_perm(user, "registry.verify")
    person, household = _visit_subject(request)
    subject: Any = person if person is not None else household
    require_registry_perm(user, "registry.verify", subject)
    has_tags = person is not None and visible(CareTag, user).filter(person=person).exists()
    initial = {
        "kind": Visit.Kind.CARE if has_tags else Visit.Kind.ROUTINE,
        "visited_at": timezone.localtime().replace(second=0, microsecond=0),
    }
    form = VisitForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            care.record_visit(user, person=person, household=household, **form.cleaned_data)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The visit has been recorded."))
            return redirect(_safe_next(request, reverse("registry:visit_schedule")))
    context = {
        "form": form,
        "person": person,
        "household": household,
        "where": _where(person) if person is not None else household.dwelling,  # type: ignore[union-attr]
        "tags": visible(CareTag, user).filter(person=person) if person is not None else [],
        "next": _safe_next(request, ""),
    }
    return render(request, "registry/visit_new.html", context)


# --- Visit log ------------------------------------------------------------------------------

VISIT_EXPORT_COLUMNS = [
    ("visited_at", gettext_lazy("Visited at")),
    ("kind", gettext_lazy("Kind")),
    ("grid", gettext_lazy("Grid")),
    ("building", gettext_lazy("Building")),
    ("name", gettext_lazy("Person's name")),
    ("visited_by", gettext_lazy("Visited by")),
    ("note", gettext_lazy("Note")),
]


def _visit_export_rows(rows: QuerySet[Visit], grid_names: dict[str, str]) -> Any:
    for visit in rows.iterator(chunk_size=2000):
        where = _where(visit.person) if visit.person else visit.household.dwelling  # type: ignore[union-attr]
        yield SimpleNamespace(
            visited_at=visit.visited_at,
            kind=visit.get_kind_display(),
            grid=grid_names.get(visit.territory_code, visit.territory_code),
            building=where.building.name if where else "",
            name=mask("name", visit.person.name) if visit.person else "",
            visited_by=str(visit.visited_by) if visit.visited_by else "",
            note=visit.note,
        )


@login_required
def visit_log(request: HttpRequest) -> HttpResponse:
    user = request.user
    require_registry_perm(user, "registry.browse")
    form = VisitLogFilterForm(request.GET or None, user=user)
    chosen = _chosen(form)
    rows = care.visit_log(
        user,
        grid_code=chosen.get("grid") or None,
        person_id=chosen.get("person"),
        kind=chosen.get("kind") or None,
        since=chosen.get("since"),
        until=chosen.get("until"),
    )
    grid_names = dict(visible(Grid, user).values_list("code", "name"))
    if request.GET.get("format") == "xlsx":
        return audited_xlsx(
            request, "visits", VISIT_EXPORT_COLUMNS, _visit_export_rows(rows, grid_names)
        )
    person = None
    if chosen.get("person"):
        person = visible(Person, user).filter(pk=chosen["person"]).first()
    page = _page(request, rows)
    for visit in page.object_list:
        visit.grid_name = grid_names.get(visit.territory_code, visit.territory_code)
    context = {"form": form, "page_obj": page, "person": person}
    return render(request, "registry/visit_log.html", context)


# --- A person's care tags -------------------------------------------------------------------


@dataclass
class _Outcome:
    """What one POSTed change did: ``done``, or the form that carries the error."""

    done: bool
    add_form: TagForm = field(default_factory=TagForm)
    schedule: tuple[int, ScheduleForm] | None = None


@login_required
def person_care(request: HttpRequest, pk: int) -> HttpResponse:
    """A person's care groups and visit schedules: add, change, remove (POST ``action``)."""
    user = request.user
    require_registry_perm(user, "registry.browse")
    person = get_object_or_404(visible(Person, user), pk=pk)
    require_registry_perm(user, "registry.browse", person)
    may_change = user.has_perm("registry.change_person", person)
    outcome = _Outcome(done=False)
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied(_("You may not change this person's care groups."))
        outcome = _change_tags(request, person)
        if outcome.done:
            return redirect("registry:person_care", pk=person.pk)
    tags = list(visible(CareTag, user).filter(person=person).order_by("group"))
    for tag in tags:
        failed = outcome.schedule if outcome.schedule and outcome.schedule[0] == tag.pk else None
        tag.schedule_form = failed[1] if failed else _schedule_form(tag)  # type: ignore[attr-defined]
    context = {
        "person": person,
        "where": _where(person),
        "tags": tags,
        "add_form": outcome.add_form,
        "may_change": may_change,
        "may_visit": user.has_perm("registry.verify", person),
        "visits": visible(Visit, user).filter(person=person).select_related("visited_by")[:10],
        "person_url": _person_detail_url(person),
        "today": timezone.localdate(),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "registry/care_person.html", context, status=status)


def _schedule_form(tag: CareTag, data: Any = None) -> ScheduleForm:
    initial = {"visit_every_days": tag.visit_every_days}
    return ScheduleForm(data, initial=initial, prefix=f"tag{tag.pk}")


def _change_tags(request: HttpRequest, person: Person) -> _Outcome:
    """Run the POSTed ``action`` (add, schedule, remove) through the services."""
    user, action = request.user, request.POST.get("action", "")
    if action == "add":
        form = TagForm(request.POST)
        if form.is_valid():
            try:
                care.tag_person(user, person, **form.cleaned_data)
            except ValidationError as error:
                show_service_errors(form, error)
            else:
                messages.success(request, _("Added to the care group."))
                return _Outcome(done=True)
        return _Outcome(done=False, add_form=form)
    tag_id = parse_id(request.POST.get("tag"))
    if action not in ("remove", "schedule") or tag_id is None:
        raise Http404(_("Unknown action."))
    tag = get_object_or_404(visible(CareTag, user).filter(person=person), pk=tag_id)
    if action == "remove":
        care.untag_person(user, tag)
        messages.success(request, _("Removed from the care group."))
        return _Outcome(done=True)
    schedule = _schedule_form(tag, request.POST)
    if schedule.is_valid():
        try:
            care.set_visit_schedule(user, tag, schedule.cleaned_data["visit_every_days"])
        except ValidationError as error:
            show_service_errors(schedule, error)
        else:
            messages.success(request, _("The visit schedule has been saved."))
            return _Outcome(done=True)
    return _Outcome(done=False, schedule=(tag.pk, schedule))


urlpatterns: list[URLPattern] = [
    path("care/", care_overview, name="care"),
    path("care/visits/", visit_schedule, name="visit_schedule"),
    path("visits/", visit_log, name="visit_log"),
    path("visits/new/", visit_new, name="visit_new"),
    path("people/<int:pk>/care/", person_care, name="person_care"),
]

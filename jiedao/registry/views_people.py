"""Registry pages: people. The person list (filters, search, masked columns, XLSX export), a
person's page with reveal-on-reason, a household's page, and the field form (edit and new).

Every page needs ``registry.browse`` (403 otherwise) and shows only the actor's territory
(404 for a person outside it); revealing and editing check their permission on the person."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache

from jiedao.audit.models import AuditEntry
from jiedao.audit.services import log_action
from jiedao.core.export import audited_xlsx, xlsx_response
from jiedao.core.fields import redact_numbers
from jiedao.core.selectors import visible
from jiedao.core.views_base import parse_id, show_service_errors
from jiedao.registry import selectors, services
from jiedao.registry.forms import PersonFilterForm, PersonForm, RevealForm, UnmaskedExportForm
from jiedao.registry.models import Household, Person
from jiedao.registry.rules import require_registry_perm
from jiedao.territory.models import Dwelling

PER_PAGE = 50
EXPORT_NAME = "persons"
EXPORT_COLUMNS = [
    ("name", gettext_lazy("Full name")),
    ("sex", gettext_lazy("Sex")),
    ("birth_date", gettext_lazy("Date of birth")),
    ("identity_number", gettext_lazy("Identity number")),
    ("phone", gettext_lazy("Phone")),
    ("registered_address", gettext_lazy("Registered address (户籍地址)")),
    ("grid", gettext_lazy("Grid")),
    ("building", gettext_lazy("Building")),
    ("room", gettext_lazy("Room")),
    ("residence", gettext_lazy("人户分离 status")),
    ("care_groups", gettext_lazy("Care groups")),
]


# --- Checks -----------------------------------------------------------------------------------


def _visible_person(request: HttpRequest, pk: int) -> Person:
    require_registry_perm(request.user, "registry.browse")
    try:
        return selectors.person(request.user, pk)
    except Person.DoesNotExist as exc:
        raise Http404(_("No such person in your territory.")) from exc


def _visible_dwelling(request: HttpRequest, pk: int) -> Dwelling:
    rows = visible(Dwelling, request.user, selectors.browse_scope(request.user))
    found = rows.select_related("building", "address", "entrance").filter(pk=pk).first()
    if found is None:
        raise Http404(_("No such dwelling in your territory."))
    return found


# --- Rows shown and exported ------------------------------------------------------------------


def home_of(person: Person) -> Dwelling | None:
    """Where the record hangs: the dwelling they live in, or else the one registered at."""
    return person.dwelling or person.registered_dwelling


def _table_row(person: Person, today: datetime.date) -> dict[str, Any]:
    home = home_of(person)
    return {
        "person": person,
        "age": selectors.age_on(person.birth_date, today),
        "identity": services.masked(person, "identity_number"),
        "phone": services.masked(person, "phone"),
        "building": home.building.name if home else "",
        "room": home.room if home else "",
        "lives_elsewhere": person.dwelling_id is None,
    }


def _export_row(person: Person, unmask: bool) -> SimpleNamespace:
    home = home_of(person)

    def shown(field: str) -> str:
        return (getattr(person, field) or "") if unmask else services.masked(person, field)

    return SimpleNamespace(
        name=person.name,
        sex=person.get_sex_display(),
        birth_date=person.birth_date,
        identity_number=shown("identity_number"),
        phone=shown("phone"),
        registered_address=shown("registered_address"),
        grid=home.building.grid.name if home else "",
        building=home.building.name if home else "",
        room=home.room if home else "",
        residence=person.get_residence_display(),
        care_groups="、".join(str(tag.get_group_display()) for tag in person.care_tags.all()),
    )


def _export_rows(actor: Any, rows: Any, unmasked: bool) -> Any:
    """Rows streamed by chunks of 2,000 with their tags prefetched per chunk (no N+1). A row
    outside the actor's reveal territory stays masked, whatever the form said."""
    covers = selectors.reveal_scope(actor).covers_code
    for person in selectors.export_rows(rows).iterator(chunk_size=2000):
        yield _export_row(person, unmasked and covers(person.territory_code))


# --- Person list ------------------------------------------------------------------------------


@login_required
def person_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    require_registry_perm(user, "registry.browse")
    form = PersonFilterForm(request.GET, actor=user)
    valid = form.is_valid()
    filters = form.filters() if valid else selectors.PersonFilters()
    rows = selectors.people(user, filters) if valid else selectors.persons(user).none()
    may_unmask = valid and selectors.may_export_unmasked(user, filters)
    unmasked_form = UnmaskedExportForm(request.POST or None) if may_unmask else None
    if request.method == "POST":
        if unmasked_form is None:
            raise PermissionDenied(_("You may not export this list unmasked."))
        if unmasked_form.is_valid():
            return _unmasked_export(request, filters, rows, unmasked_form.cleaned_data["reason"])
    elif request.GET.get("format") == "xlsx":
        return audited_xlsx(request, EXPORT_NAME, EXPORT_COLUMNS, _export_rows(user, rows, False))
    page = Paginator(selectors.list_rows(rows), PER_PAGE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    kind = selectors.search_kind(filters.q)
    context = {
        "form": form,
        "filtered": any(v for k, v in filters.as_query().items() if k != "q") or not valid,
        "page_obj": page,
        "rows": [_table_row(person, today) for person in page.object_list],
        "search_label": selectors.SEARCH_KIND_LABELS.get(kind, ""),
        "partial_number": kind == selectors.SearchKind.PARTIAL_NUMBER,
        "unmasked_form": unmasked_form,
    }
    htmx = request.htmx  # type: ignore[attr-defined]
    if htmx and not htmx.history_restore_request and request.method == "GET":
        return render(request, "registry/person_list_results.html", context)
    return render(request, "registry/person_list.html", context)


def _unmasked_export(
    request: HttpRequest, filters: selectors.PersonFilters, rows: Any, reason: str
) -> HttpResponse:
    """The plaintext workbook, written to the audit trail as one sensitive read with the
    reason, the number of rows and the filters."""
    user = request.user
    response, count = xlsx_response(EXPORT_NAME, EXPORT_COLUMNS, _export_rows(user, rows, True))
    prefixes = selectors.export_prefixes(user, filters) or [""]
    log_action(
        user,
        f"export.{EXPORT_NAME}.unmasked",
        None,
        after={
            "rows": count,
            "filters": {k: redact_numbers(str(v)) for k, v in filters.as_query().items()},
            "territory": prefixes,
        },
        note=reason,
        territory_code=prefixes[0],
        kind=AuditEntry.Kind.SENSITIVE_READ,
    )
    response["Cache-Control"] = "no-store"
    return response


# --- Person page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str
    sensitive: bool


def _field_label(name: str) -> str:
    field = Person._meta.get_field(name.removesuffix("_id"))
    return capfirst(str(getattr(field, "verbose_name", name)))


def _place_labels(actor: Any, versions: list[Any]) -> dict[tuple[str, Any], str]:
    """Names of the dwellings and households versions mention (those in the territory)."""
    ids: dict[str, set[int]] = {"dwelling": set(), "household": set()}
    for version in versions:
        for name, change in version.changes.items():
            kind = "dwelling" if name.endswith("dwelling_id") else "household"
            if name.endswith("_id") and isinstance(change, list):
                ids[kind].update(v for v in change if isinstance(v, int))
    scope = selectors.browse_scope(actor)
    labels: dict[tuple[str, Any], str] = {}
    for dwelling in visible(Dwelling, actor, scope).filter(pk__in=ids["dwelling"]):
        labels["dwelling", dwelling.pk] = str(dwelling)
    for household in selectors.households(actor).filter(pk__in=ids["household"]):
        labels["household", household.pk] = str(household)
    return labels


def _shown_value(name: str, value: Any, labels: dict[tuple[str, Any], str]) -> str:
    if value in (None, ""):
        return "—"
    if name.endswith("_id"):
        kind = "dwelling" if name.endswith("dwelling_id") else "household"
        return labels.get((kind, value), _("#%(id)s (outside your territory)") % {"id": value})
    field = Person._meta.get_field(name)
    choices = dict(getattr(field, "choices", None) or ())
    return str(choices.get(value, value))


def version_history(actor: Any, person: Person) -> list[dict[str, Any]]:
    """Who changed what, when and from where; sensitive fields only as "changed"."""
    versions = list(selectors.versions_of(person))
    labels = _place_labels(actor, versions)
    history = []
    for version in versions:
        changes = []
        for name, change in sorted(version.changes.items()):
            if name in services.SENSITIVE_FIELDS or not isinstance(change, list):
                changes.append(Change(_field_label(name), "", "", sensitive=True))
                continue
            before, after = (_shown_value(name, value, labels) for value in change)
            changes.append(Change(_field_label(name), before, after, sensitive=False))
        history.append({"version": version, "changes": changes})
    return history


def _sensitive_facts(person: Person) -> list[dict[str, Any]]:
    return [
        {"field": name, "label": _field_label(name), "masked": services.masked(person, name)}
        for name in services.SENSITIVE_FIELDS
    ]


def _households_of(actor: Any, person: Person) -> list[dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for household in (person.household, person.registered_household):
        if household is not None and household.pk not in found:
            found[household.pk] = {
                "household": household,
                "members": selectors.members(actor, household),
            }
    return list(found.values())


@login_required
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = _visible_person(request, pk)
    user = request.user
    context = {
        "person": person,
        "age": selectors.age_on(person.birth_date, timezone.localdate()),
        "sensitive": _sensitive_facts(person),
        "may_reveal": user.has_perm("registry.reveal", person),
        "may_edit": user.has_perm("registry.change_person", person),
        "households": _households_of(user, person),
        "care_tags": selectors.care_tags_of(person),
        "visits": selectors.visits_of(person),
        "verifications": selectors.verifications_of(person),
        "history": version_history(user, person),
    }
    return render(request, "registry/person_detail.html", context)


@login_required
@never_cache
def person_reveal(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    """GET: the reason form; POST: the plaintext in place of the mask, audited with the reason.
    htmx swaps the fragment; without JavaScript the same steps are whole pages."""
    if field not in services.SENSITIVE_FIELDS:
        raise Http404(_("No such field."))
    person = _visible_person(request, pk)
    require_registry_perm(request.user, "registry.reveal", person)
    form = RevealForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {
        "person": person,
        "field": field,
        "label": _field_label(field),
        "masked": services.masked(person, field),
        "may_reveal": True,
        "reveal_form": form,
    }
    if request.method == "POST" and form.is_valid():
        try:
            value = services.reveal(request.user, person, field, form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_error("reason", exc)
        else:
            context.update(reveal_form=None, revealed=True, revealed_value=value)
    htmx = request.htmx  # type: ignore[attr-defined]
    template = "registry/_reveal.html" if htmx else "registry/person_reveal.html"
    return render(request, template, context)


# --- Household page ---------------------------------------------------------------------------


@login_required
def household_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_registry_perm(request.user, "registry.browse")
    try:
        household = selectors.household(request.user, pk)
    except Household.DoesNotExist as exc:
        raise Http404(_("No such household in your territory.")) from exc
    today = timezone.localdate()
    context = {
        "household": household,
        "rows": [_table_row(p, today) for p in selectors.members(request.user, household)],
        "may_add": household.kind == Household.Kind.RESIDING
        and request.user.has_perm("registry.change_person", household),
    }
    return render(request, "registry/household_detail.html", context)


# --- Field form -------------------------------------------------------------------------------


def _initial(person: Person) -> dict[str, Any]:
    dwelling = person.dwelling
    return {
        "version": person.version,
        "name": person.name,
        "relation": person.relation,
        "building": dwelling.building_id if dwelling else None,
        "dwelling": dwelling.pk if dwelling else None,
    }


def _bound_at_version(request: HttpRequest, person: Person, identity_editable: bool) -> PersonForm:
    """The user's typed values again, now against the current version (a second save is a
    deliberate overwrite)."""
    data = request.POST.copy()
    data["version"] = str(person.version)
    return PersonForm(data, actor=request.user, person=person, identity_editable=identity_editable)


@login_required
def person_edit(request: HttpRequest, pk: int) -> HttpResponse:
    person = _visible_person(request, pk)
    user = request.user
    require_registry_perm(user, "registry.change_person", person)
    identity_editable = not person.identity_number or user.has_perm("registry.reveal", person)
    post = request.POST if request.method == "POST" else None
    form = PersonForm(
        post,
        actor=user,
        person=person,
        identity_editable=identity_editable,
        initial=_initial(person),
    )
    form.fields["version"].required = True
    current = None
    if post is not None and form.is_valid():
        try:
            services.save_person(
                user,
                person,
                form.values(),
                source=selectors.edit_source(user, person),
                expected_version=form.cleaned_data["version"],
            )
        except services.StaleRecord:
            current = _visible_person(request, pk)
            form = _bound_at_version(request, current, identity_editable)
        except ValidationError as exc:
            show_service_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("registry:person_detail", pk=pk)
    shown = current or person
    context = {
        "form": form,
        "person": shown,
        "current": current,
        "creating": False,
        "masked_identity": services.masked(shown, "identity_number"),
    }
    if current is not None:
        context["current_facts"] = _current_facts(current)
    return render(request, "registry/person_form.html", context)


def _current_facts(person: Person) -> list[tuple[str, str]]:
    """What the record says now, for the user whose save was refused as stale."""
    return [
        (_field_label("name"), person.name),
        (_field_label("identity_number"), services.masked(person, "identity_number") or "—"),
        (_field_label("phone"), services.masked(person, "phone") or "—"),
        (_field_label("relation"), person.get_relation_display() or "—"),
        (_field_label("dwelling"), str(person.dwelling) if person.dwelling else "—"),
        (_("Changed by"), str(person.updated_by or "—")),
        (_("Changed at"), timezone.localtime(person.updated_at).strftime("%Y-%m-%d %H:%M")),
    ]


@login_required
def person_new(request: HttpRequest) -> HttpResponse:
    """A new person, in a given dwelling (``?dwelling=<id>``) or one chosen on the form."""
    user = request.user
    require_registry_perm(user, "registry.browse")
    raw = request.GET.get("dwelling", "")
    dwelling = _visible_dwelling(request, pk) if (pk := parse_id(raw)) else None
    require_registry_perm(user, "registry.change_person", dwelling)
    person = Person()
    form = PersonForm(
        request.POST if request.method == "POST" else None,
        actor=user,
        person=person,
        identity_editable=True,
        fixed_dwelling=dwelling,
    )
    if request.method == "POST" and form.is_valid():
        try:
            values = form.values()
            saved = services.save_person(
                user, person, values, source=selectors.edit_source(user, values["dwelling"])
            )
        except ValidationError as exc:
            show_service_errors(form, exc)
        else:
            messages.success(request, _("Added."))
            return redirect("registry:person_detail", pk=saved.pk)
    context = {"form": form, "person": person, "dwelling": dwelling, "creating": True}
    return render(request, "registry/person_form.html", context)


@login_required
def person_dwelling_options(request: HttpRequest) -> HttpResponse:
    """The rooms of one building, as <option>s for the form's room select (htmx)."""
    require_registry_perm(request.user, "registry.change_person")
    raw = request.GET.get("building", "")
    building = parse_id(raw)
    rooms = selectors.editable_dwellings(request.user, building) if building else []
    return render(request, "registry/person_dwelling_options.html", {"rooms": rooms})


urlpatterns: list[URLPattern] = [
    path("people/", person_list, name="person_list"),
    path("people/new/", person_new, name="person_new"),
    path("people/dwellings/", person_dwelling_options, name="person_dwelling_options"),
    path("people/<int:pk>/", person_detail, name="person_detail"),
    path("people/<int:pk>/edit/", person_edit, name="person_edit"),
    path("people/<int:pk>/reveal/<str:field>/", person_reveal, name="person_reveal"),
    path("households/<int:pk>/", household_detail, name="household_detail"),
]

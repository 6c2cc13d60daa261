"""Care groups (关爱对象) and visits (走访): tagging people, visit schedules, recording visits, and
the selectors that say who is due a visit (domain.md §2).

Writes are services (one transaction, one audit entry each); the views check the permissions
(``registry.change_person`` for tags, ``registry.verify`` for visits) before calling them. Reads
are selectors built under the actor's territory scope: a grid worker sees their grid only.

A schedule lives on a tag: ``visit_every_days`` and ``next_visit_due`` = the date of the last care
visit (or the day the schedule was set, when there was none) + every days. A care visit moves the
schedule of every tag of the person visited; a tag is overdue from the day after its due date.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.audit.services import log_action
from jiedao.core.scopes import code_within, unscoped
from jiedao.core.selectors import search_q, visible
from jiedao.registry.models import CareGroup, CareTag, Household, Person, Verification, Visit
from jiedao.territory.models import Grid

# Groups visited on a schedule unless a tag says otherwise (days between visits). Override with
# the JIEDAO_CARE_VISIT_DEFAULTS setting (same shape); every other group has no schedule.
DEFAULT_VISIT_EVERY_DAYS: dict[str, int] = {CareGroup.ELDERLY_ALONE: 7}
MIN_EVERY_DAYS = 1
MAX_EVERY_DAYS = 366
DUE_SOON_DAYS = 2
# A phone's clock may run a little ahead of the server's: "now" from the form is not "future".
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_TAG_NOTE = 200
MAX_VISIT_NOTE = 2000


# --- Schedules ------------------------------------------------------------------------------


def default_every_days(group: str) -> int | None:
    defaults = getattr(settings, "JIEDAO_CARE_VISIT_DEFAULTS", DEFAULT_VISIT_EVERY_DAYS)
    return defaults.get(group)


def next_due(last_visit_at: datetime | None, every_days: int | None) -> date | None:
    """The date the next visit is due: last visit's local date (or today) + every days."""
    if not every_days:
        return None
    base = timezone.localdate(last_visit_at) if last_visit_at else timezone.localdate()
    return base + timedelta(days=every_days)


def check_every_days(every_days: int | None) -> None:
    if every_days is None:
        return
    if isinstance(every_days, bool) or not isinstance(every_days, int):
        raise ValidationError({"visit_every_days": _("Give the number of days as a whole number.")})
    if not MIN_EVERY_DAYS <= every_days <= MAX_EVERY_DAYS:
        raise ValidationError(
            {
                "visit_every_days": _("Visit every %(low)d to %(high)d days.")
                % {"low": MIN_EVERY_DAYS, "high": MAX_EVERY_DAYS}
            }
        )


def _tag_facts(tag: CareTag) -> dict[str, Any]:
    """What the audit trail records of a tag (no personal values beyond the person's id)."""
    return {
        "person": tag.person_id,
        "group": tag.group,
        "visit_every_days": tag.visit_every_days,
        "next_visit_due": tag.next_visit_due.isoformat() if tag.next_visit_due else None,
        "note": tag.note,
    }


def clean_note(note: str, limit: int) -> str:
    note = (note or "").strip()
    if len(note) > limit:
        raise ValidationError(
            {"note": _("Keep the note under %(limit)d characters.") % {"limit": limit}}
        )
    return note


def _last_care_visit(person: Person) -> datetime | None:
    return (
        Visit.all_objects.filter(person=person, kind=Visit.Kind.CARE)
        .order_by("-visited_at")
        .values_list("visited_at", flat=True)
        .first()
    )


# --- Services: tags -------------------------------------------------------------------------


def tag_person(
    actor: Any,
    person: Person,
    group: str,
    visit_every_days: int | None = None,
    note: str = "",
) -> CareTag:
    """Put a person in a care group. ``visit_every_days`` None takes the group's default
    schedule (weekly for the elderly living alone); refuses a second tag of the same group."""
    if group not in CareGroup.values:
        raise ValidationError({"group": _("Choose a care group from the list.")})
    every = visit_every_days if visit_every_days is not None else default_every_days(group)
    check_every_days(every)
    note = clean_note(note, MAX_TAG_NOTE)
    with transaction.atomic(), unscoped():
        person = Person.all_objects.select_for_update().get(pk=person.pk)
        if CareTag.all_objects.filter(person=person, group=group).exists():
            raise _already_tagged(group)
        last = _last_care_visit(person)
        tag = CareTag(
            person=person,
            group=group,
            visit_every_days=every,
            last_visit_at=last,
            next_visit_due=next_due(last, every),
            note=note,
            territory_code=person.territory_code,
        )
        try:
            with transaction.atomic():
                tag.save(force_insert=True)
        except IntegrityError as exc:  # tagged by someone else in the meantime
            raise _already_tagged(group) from exc
        log_action(actor, "registry.care.tag", tag, after=_tag_facts(tag))
    return tag


def _already_tagged(group: str) -> ValidationError:
    message = _("This person is already in the group “%(group)s”.")
    return ValidationError({"group": message % {"group": CareGroup(group).label}})


def untag_person(actor: Any, tag: CareTag) -> None:
    """Take a person out of a care group (the tag and its schedule go; visits stay)."""
    with transaction.atomic(), unscoped():
        tag = _locked(tag)
        log_action(actor, "registry.care.untag", tag, before=_tag_facts(tag))
        tag.delete()


def set_visit_schedule(actor: Any, tag: CareTag, every_days: int | None) -> CareTag:
    """Visit every ``every_days`` days (1–366), or no schedule (None). The next visit falls
    ``every_days`` after the last visit, or after today when there was none."""
    check_every_days(every_days)
    with transaction.atomic(), unscoped():
        tag = _locked(tag)
        before = _tag_facts(tag)
        tag.visit_every_days = every_days
        tag.next_visit_due = next_due(tag.last_visit_at, every_days)
        after = _tag_facts(tag)
        if after == before:
            return tag
        tag.save(update_fields=["visit_every_days", "next_visit_due"])
        log_action(actor, "registry.care.schedule", tag, before=before, after=after)
    return tag


def _locked(tag: CareTag) -> CareTag:
    try:
        return CareTag.all_objects.select_for_update().get(pk=tag.pk)
    except CareTag.DoesNotExist as exc:
        raise ValidationError(_("This care tag has been removed in the meantime.")) from exc


def sync_care_territory(person: Person) -> int:
    """After a person moves (``save_person`` changed their dwelling), their tags follow them to
    the new grid. Returns the number of tags moved. Visits stay where they happened."""
    with unscoped():
        return (
            CareTag.all_objects.filter(person=person)
            .exclude(territory_code=person.territory_code)
            .update(territory_code=person.territory_code)
        )


def follow_person_territory(person_ids: Iterable[int]) -> dict[str, int]:
    """After persons moved in bulk (an import, or ``save_person``): their care tags and open
    verifications take each person's current ``territory_code``, so they land on the new grid's
    worklist. One UPDATE per table (a correlated subquery), whatever the number of persons.
    Returns how many rows of each moved. Visits and done verifications stay where they
    happened."""
    ids = sorted(set(person_ids))
    if not ids:
        return {"care_tags": 0, "verifications": 0}
    current = Subquery(
        Person.all_objects.filter(pk=OuterRef("person_id")).values("territory_code")[:1]
    )
    with unscoped():
        tags = CareTag.all_objects.filter(person_id__in=ids)
        checks = Verification.all_objects.filter(person_id__in=ids, state=Verification.State.OPEN)
        return {
            "care_tags": tags.exclude(territory_code=current).update(territory_code=current),
            "verifications": checks.exclude(territory_code=current).update(territory_code=current),
        }


# --- Services: visits -----------------------------------------------------------------------


def record_visit(
    actor: Any,
    *,
    person: Person | None = None,
    household: Household | None = None,
    kind: str,
    note: str = "",
    visited_at: datetime | None = None,
) -> Visit:
    """Record a visit to a person or a household (or a person in their household). A care visit
    moves the schedule of the person's care tags (for a household: of every member's)."""
    if kind not in Visit.Kind.values:
        raise ValidationError({"kind": _("Choose the kind of visit from the list.")})
    if person is None and household is None:
        raise ValidationError({NON_FIELD_ERRORS: _("Say whom the visit was to.")})
    if person is not None and household is not None and household.pk not in _households_of(person):
        raise ValidationError(
            {NON_FIELD_ERRORS: _("The person does not belong to this household.")}
        )
    visited_at = _clean_visit_time(visited_at)
    note = clean_note(note, MAX_VISIT_NOTE)
    subject: Any = person if person is not None else household
    with transaction.atomic(), unscoped():
        visit = Visit.all_objects.create(
            person=person,
            household=household,
            kind=kind,
            note=note,
            visited_at=visited_at,
            visited_by=actor if getattr(actor, "pk", None) else None,
            territory_code=subject.territory_code,
        )
        moved = _advance_schedules(visit) if kind == Visit.Kind.CARE else []
        log_action(
            actor,
            "registry.visit.record",
            visit,
            after={
                "person": visit.person_id,
                "household": visit.household_id,
                "kind": kind,
                "visited_at": visited_at.isoformat(),
                "schedules_moved": moved,
            },
        )
    return visit


def _households_of(person: Person) -> set[int | None]:
    return {person.household_id, person.registered_household_id} - {None}


def _clean_visit_time(visited_at: datetime | None) -> datetime:
    now = timezone.now()
    if visited_at is None:
        return now
    if timezone.is_naive(visited_at):
        visited_at = timezone.make_aware(visited_at)
    if visited_at > now + FUTURE_TOLERANCE:
        raise ValidationError({"visited_at": _("A visit cannot be in the future.")})
    return visited_at


def _advance_schedules(visit: Visit) -> list[int]:
    """Every tag of the visited person(s) remembers the visit; scheduled ones get a new due
    date. A visit recorded late, older than the tag's last visit, changes nothing."""
    if visit.person_id is not None:
        people: Any = [visit.person_id]
    else:
        people = Person.all_objects.filter(household=visit.household).values("pk")
    moved = []
    for tag in CareTag.all_objects.select_for_update().filter(person__in=people).order_by("pk"):
        if tag.last_visit_at is not None and tag.last_visit_at >= visit.visited_at:
            continue
        tag.last_visit_at = visit.visited_at
        tag.next_visit_due = next_due(visit.visited_at, tag.visit_every_days)
        tag.save(update_fields=["last_visit_at", "next_visit_due"])
        moved.append(tag.pk)
    return moved


# --- Selectors ------------------------------------------------------------------------------


def care_tags(actor: Any, roles: Iterable[str] | None = None) -> QuerySet[CareTag]:
    """Care tags in the actor's scope (or only the territory of their grants of ``roles``)."""
    scope = actor.scope_for(set(roles)) if roles else None
    return visible(CareTag, actor, scope).select_related(
        "person__dwelling__building", "person__registered_dwelling__building"
    )


def care_list(
    actor: Any,
    group: str | None = None,
    grid_code: str | None = None,
    q: str = "",
    state: str = "",
    on: date | None = None,
) -> QuerySet[CareTag]:
    """Care tags, optionally of one group, under one grid (or community) code, matching a name
    or pinyin initials, and in one schedule state (``overdue``, ``due_soon``, ``scheduled``,
    ``unscheduled``)."""
    rows = care_tags(actor)
    if group:
        rows = rows.filter(group=group)
    if grid_code:
        rows = rows.filter(code_within("territory_code", grid_code))
    if q.strip():
        rows = rows.filter(search_q(q, name="person__name", code=None, initials="person__initials"))
    rows = rows.filter(_state_q(state, on or timezone.localdate()))
    return rows.order_by("territory_code", "group", "person__name", "pk")


def _state_q(state: str, on: date) -> Q:
    if state == "overdue":
        return Q(next_visit_due__lt=on)
    if state == "due_soon":
        return Q(next_visit_due__gte=on, next_visit_due__lte=on + timedelta(days=DUE_SOON_DAYS))
    if state == "scheduled":
        return Q(visit_every_days__isnull=False)
    if state == "unscheduled":
        return Q(visit_every_days__isnull=True)
    return Q()


def counts_by_grid(actor: Any, on: date | None = None) -> list[dict[str, Any]]:
    """Per grid in scope: its code and name, the number of tags of each care group (``counts``,
    keyed by group), ``total`` and ``overdue``. One aggregate query."""
    on = on or timezone.localdate()
    per_group = {f"n_{g}": Count("pk", filter=Q(group=g)) for g in CareGroup.values}
    with unscoped():
        grid_name = Grid.all_objects.filter(code=OuterRef("territory_code")).values("name")[:1]
    rows = (
        visible(CareTag, actor)
        .values("territory_code")
        .annotate(
            grid_name=Subquery(grid_name),
            total=Count("pk"),
            overdue=Count("pk", filter=Q(next_visit_due__lt=on)),
            **per_group,
        )
        .order_by("territory_code")
    )
    return [_grid_counts(row) for row in rows]


def _grid_counts(row: Any) -> dict[str, Any]:
    return {
        "code": row["territory_code"],
        "name": row["grid_name"] or row["territory_code"],
        "counts": {g: row[f"n_{g}"] for g in CareGroup.values},
        "total": row["total"],
        "overdue": row["overdue"],
    }


def overdue_visits(
    actor: Any, on: date | None = None, roles: Iterable[str] | None = None
) -> QuerySet[CareTag]:
    """Scheduled tags whose next visit was due before ``on`` (today), longest overdue first.
    ``roles`` narrows to the territory of those grants (a grid worker's to-do: their grid)."""
    on = on or timezone.localdate()
    return (
        care_tags(actor, roles)
        .filter(next_visit_due__lt=on)
        .order_by("next_visit_due", "territory_code", "person__name", "pk")
    )


def due_soon(
    actor: Any,
    days: int = DUE_SOON_DAYS,
    on: date | None = None,
    roles: Iterable[str] | None = None,
) -> QuerySet[CareTag]:
    """Scheduled tags due from ``on`` (today) to ``days`` days later, inclusive."""
    on = on or timezone.localdate()
    return (
        care_tags(actor, roles)
        .filter(next_visit_due__gte=on, next_visit_due__lte=on + timedelta(days=days))
        .order_by("next_visit_due", "territory_code", "person__name", "pk")
    )


def care_work_counts(actor: Any, roles: Iterable[str] | None = None) -> dict[str, int]:
    """People waiting for a care visit, for home tiles: ``overdue`` and ``due_soon`` (a person
    with two overdue tags counts once)."""
    return {
        "overdue": overdue_visits(actor, roles=roles).values("person").distinct().count(),
        "due_soon": due_soon(actor, roles=roles).values("person").distinct().count(),
    }


def visit_log(
    actor: Any,
    *,
    grid_code: str | None = None,
    person_id: int | None = None,
    kind: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[Visit]:
    """Visits in scope, newest first, filtered by grid (or community) code, person, kind and
    local dates (inclusive)."""
    rows = visible(Visit, actor).select_related(
        "person", "household__dwelling__building", "visited_by"
    )
    if grid_code:
        rows = rows.filter(code_within("territory_code", grid_code))
    if person_id:
        rows = rows.filter(person_id=person_id)
    if kind:
        rows = rows.filter(kind=kind)
    if since:
        rows = rows.filter(visited_at__date__gte=since)
    if until:
        rows = rows.filter(visited_at__date__lte=until)
    return rows.order_by("-visited_at", "-pk")


def care_by_building(
    actor: Any, group: str | None = None, grid_code: str | None = None, limit: int = 2000
) -> list[dict[str, Any]]:
    """Buildings with care tags and where they are: ``building``, ``name``, ``lng``, ``lat``
    and ``counts`` by group. No person is named (the map shows groups and buildings only)."""
    rows = visible(CareTag, actor).filter(person__dwelling__isnull=False)
    if group:
        rows = rows.filter(group=group)
    if grid_code:
        rows = rows.filter(code_within("territory_code", grid_code))
    building = "person__dwelling__building"
    values = (
        rows.values(f"{building}_id", f"{building}__name", "group")
        .annotate(
            lat=Coalesce(f"{building}__lat", f"{building}__address__lat"),
            lng=Coalesce(f"{building}__lng", f"{building}__address__lng"),
            n=Count("pk"),
        )
        .filter(lat__isnull=False, lng__isnull=False)
        .order_by(f"{building}_id", "group")
    )
    buildings: dict[int, dict[str, Any]] = {}
    for row in values:
        key = row[f"{building}_id"]
        if key not in buildings:
            if len(buildings) == limit:
                break
            buildings[key] = {
                "building": key,
                "name": row[f"{building}__name"],
                "lat": row["lat"],
                "lng": row["lng"],
                "counts": {},
            }
        buildings[key]["counts"][row["group"]] = row["n"]
    return list(buildings.values())

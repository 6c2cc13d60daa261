"""Reads of cases, always inside the actor's scope.

Who sees a case: staff whose grant covers its grid; department staff whose department handles
it now or was summoned to it (吹哨); the resident who reported it. Nobody else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from jiedao.accounts.roles import Role
from jiedao.cases.models import (
    CALLER_FIELDS,
    HANDLER_NODES,
    NO_CALLER_CHANNELS,
    Case,
    CaseAttachment,
    CaseEvent,
    ExtensionState,
    Node,
    Summons,
)
from jiedao.cases.workflow import (
    APPROVERS,
    CALLERS_BACK,
    DISPATCHERS,
    HANDLER_ROLE,
    HANDLERS,
    VERIFIERS,
    acts_for_handler,
)
from jiedao.core.crypto import blind_index_candidates, normalise_phone
from jiedao.core.fields import mask
from jiedao.core.scopes import unscoped
from jiedao.core.selectors import scope_of

# Fewer digits are no phone number: the desk would look up every keystroke.
MIN_PHONE_DIGITS = 7


def case_visibility_q(actor: Any) -> Q | None:
    """The filter for the cases ``actor`` may see; ``None`` means all of them."""
    scope = scope_of(actor)
    if scope.everything:
        return None
    query = scope.q() if scope.prefixes else Q(pk__in=[])
    if scope.department_ids:
        departments = sorted(scope.department_ids)
        with unscoped():
            summoned = Summons.all_objects.filter(department_id__in=departments).values("case_id")
        query |= (
            Q(handler_department_id__in=departments)
            # A department keeps the cases it closed (not the ones it returned as not its own).
            | Q(last_handler_department_id__in=departments, node=Node.CLOSED)
            | Q(pk__in=summoned)
        )
    if getattr(actor, "is_authenticated", False):
        query |= Q(reporter_id=actor.pk)
    return query


def cases(actor: Any) -> QuerySet[Case]:
    """Every case the actor may see (unordered filters; callers add their own)."""
    query = case_visibility_q(actor)
    with unscoped():
        rows = Case.objects.select_related("category", "grid", "handler_department")
    return rows if query is None else rows.filter(query)


def case(actor: Any, pk: int) -> Case:
    """One case the actor may see, or ``Case.DoesNotExist`` (also for cases outside scope)."""
    return cases(actor).get(pk=pk)


def reported_by(actor: Any) -> QuerySet[Case]:
    """A resident's own cases ("my cases")."""
    with unscoped():
        return Case.objects.filter(reporter_id=actor.pk).select_related("category")


def events_of(case: Case) -> QuerySet[CaseEvent]:
    """The timeline of a case the caller already may see."""
    with unscoped():
        return CaseEvent.objects.filter(case=case).select_related("actor").order_by("at", "pk")


def attachments_of(case: Case) -> QuerySet[CaseAttachment]:
    with unscoped():
        return CaseAttachment.objects.filter(case=case).order_by("uploaded_at", "pk")


def summonses_of(case: Case) -> QuerySet[Summons]:
    with unscoped():
        return Summons.objects.filter(case=case).select_related("department")


def is_staff_viewer(actor: Any) -> bool:
    """Staff see the full case (caller contact to its handlers); residents see their own view."""
    roles: frozenset[str] = getattr(actor, "roles", frozenset())
    return bool(roles - {Role.RESIDENT})


# --- Queues ---------------------------------------------------------------------------------

OPEN_NODES = (
    Node.RECEIVED,
    Node.REGISTERED,
    Node.DISPATCHED,
    Node.ACKNOWLEDGED,
    Node.IN_PROGRESS,
    Node.HANDLED,
    Node.VERIFIED,
)
NEARLY_DUE = timedelta(hours=24)
CALLBACK_WINDOW = timedelta(days=14)


def in_territory(actor: Any, roles: frozenset[str]) -> QuerySet[Case]:
    """Cases in the grids covered by the actor's grants of ``roles`` (not merely visible)."""
    scope = actor.scope_for(roles)
    with unscoped():
        rows = Case.objects.select_related("category", "grid", "handler_department")
    return rows if scope.everything else rows.filter(scope.q() if scope.prefixes else Q(pk__in=[]))


def queue_q(queue: str, now: Any = None) -> Q:
    """One desk queue: a node, ``overdue``, ``nearly_due``, ``unrated`` (closed, no rating yet)
    or ``open`` (every open node)."""
    now = now or timezone.now()
    if queue in Node.values:
        return Q(node=queue)
    if queue == "unrated":  # the callback is due soon after closing, not months later
        return Q(node=Node.CLOSED, rating="", closed_at__gte=now - CALLBACK_WINDOW) & ~Q(
            channel__in=sorted(NO_CALLER_CHANNELS)
        )
    if queue == "extension":
        return Q(extension=ExtensionState.REQUESTED, node__in=OPEN_NODES)
    open_q = Q(node__in=OPEN_NODES)
    if queue == "overdue":  # a verified case only waits for closing
        return open_q & Q(resolve_due__lt=now) & ~Q(node=Node.VERIFIED)
    if queue == "nearly_due":
        return open_q & Q(resolve_due__gte=now, resolve_due__lt=now + NEARLY_DUE)
    return open_q


def queue_counts(rows: QuerySet[Case], queues: list[str]) -> dict[str, int]:
    """Every queue's size in one query."""
    now = timezone.now()
    return rows.aggregate(**{q: Count("pk", filter=queue_q(q, now)) for q in queues})


def handler_inbox(actor: Any) -> QuerySet[Case]:
    """Cases whose current handler the actor acts for: their department, their community's
    workstation (also for property companies) or their street office."""
    query = Q(pk__in=[])
    department_ids = actor.scope_for({Role.DEPARTMENT_STAFF}).department_ids
    if department_ids:
        query |= Q(handler_department_id__in=sorted(department_ids))
    for role in (Role.WORKSTATION_STAFF, Role.STREET_STAFF):
        types = [kind for kind, acting in HANDLER_ROLE.items() if acting == role]
        scope = actor.scope_for({role})
        if scope.everything or scope.prefixes:
            query |= Q(handler_type__in=types) & (
                Q() if scope.everything else scope.q("handler_unit_code")
            )
    with unscoped():
        return (
            Case.objects.filter(query, node__in=HANDLER_NODES)
            .select_related("category", "grid", "handler_department")
            .order_by("resolve_due", "pk")
        )


def department_summonses(actor: Any) -> QuerySet[Summons]:
    """吹哨 waiting for the actor's department: not reported, or reported with no part yet."""
    department_ids = sorted(actor.scope_for({Role.DEPARTMENT_STAFF}).department_ids)
    with unscoped():
        return (
            Summons.objects.filter(department_id__in=department_ids, part_recorded_at__isnull=True)
            .exclude(case__node__in=[Node.CLOSED, Node.REJECTED, Node.MERGED])
            .select_related("case", "case__category", "department")
            # Not yet reported first (报到 is the urgent part), then by deadline.
            .order_by(F("reported_at").asc(nulls_first=True), "report_due", "pk")
        )


def grid_worker_todo(actor: Any) -> dict[str, QuerySet[Case]]:
    """A grid worker's to-do: handled cases to verify on site, closed cases to call back."""
    rows = in_territory(actor, frozenset({Role.GRID_WORKER}))
    return {
        "verify": rows.filter(node=Node.HANDLED).order_by("handled_at", "pk"),
        "callback": rows.filter(queue_q("unrated")).order_by("closed_at", "pk"),
    }


def public_closed_cases(limit: int = 1000) -> list[dict[str, Any]]:
    """Closed cases for the public map, anonymised: category, month closed and a location
    rounded to about 100 m. No description, caller or address."""
    with unscoped():
        rows = (
            Case.objects.filter(node=Node.CLOSED, lng__isnull=False)
            .order_by("-closed_at")
            .values("category__name", "closed_at", "lng", "lat")[:limit]
        )
    return [
        {
            "category": row["category__name"],
            "month": row["closed_at"].strftime("%Y-%m") if row["closed_at"] else "",
            "lng": round(row["lng"], 3),
            "lat": round(row["lat"], 3),
        }
        for row in rows
    ]


def cases_by_phone(actor: Any, phone: str, limit: int = 10) -> QuerySet[Case]:
    """A caller's earlier cases, for the hotline desk (only those the operator may see): the
    exact number through its blind index, however it is written (spaces, dashes, +86)."""
    rows = cases(actor)
    if len(normalise_phone(phone)) < MIN_PHONE_DIGITS:
        return rows.none()
    candidates = blind_index_candidates("phone", phone)
    return rows.filter(caller_phone_index__in=candidates).order_by("-created_at")[:limit]


def masked_contact(case: Case, field: str) -> str:
    """The default display of the caller's name or phone (王*明, 138****5678)."""
    return mask(CALLER_FIELDS[field], getattr(case, field) or "")


# Staff who work cases (not summoned departments, not committee members).
CONTACT_ROLES = (DISPATCHERS | HANDLERS | VERIFIERS | CALLERS_BACK | APPROVERS) - {
    Role.DEPARTMENT_STAFF
}


def sees_caller_contact(actor: Any, case: Case) -> bool:
    """The caller's name and phone (domain.md §10): the reporter; staff who work cases on the
    case's grid; the current handler. An anonymous caller's contact only to those who call
    back (and the reporter). Never summoned departments or other residents."""
    if case.reporter_id is not None and case.reporter_id == getattr(actor, "pk", None):
        return True
    if not getattr(actor, "is_authenticated", False):
        return False
    if case.anonymous:
        return actor.scope_for(CALLERS_BACK).covers_code(case.territory_code)
    if actor.scope_for(CONTACT_ROLES).covers_code(case.territory_code):
        return True
    return bool(case.handler_type) and acts_for_handler(actor, case, HANDLERS)

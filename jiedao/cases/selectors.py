"""Reads of cases, always inside the actor's scope.

Who sees a case: staff whose grant covers its grid; department staff whose department handles
it now or was summoned to it (吹哨); the resident who reported it. Nobody else.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from jiedao.accounts.roles import Role
from jiedao.cases.models import Case, CaseAttachment, CaseEvent, Summons
from jiedao.core.scopes import unscoped
from jiedao.core.selectors import scope_of


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
        query |= Q(handler_department_id__in=departments) | Q(pk__in=summoned)
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
    roles = getattr(actor, "roles", frozenset())
    return bool(roles - {Role.RESIDENT})

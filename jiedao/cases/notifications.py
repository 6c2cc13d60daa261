"""Who hears of each change to a case (docs/notifications.md).

Called once the change has committed (``transaction.on_commit`` in the services, and the
sweeper). Recipients are found by their active role grants on the node concerned, in one query
per group; the actor never hears of their own action. A failure is logged and swallowed: a
notification must never break the case.

| event | who |
| --- | --- |
| dispatch | everyone acting for the new handler |
| reopen | the handler's people if it has one, else the street staff (to dispatch it again) |
| handled (finish) | grid workers of the case's grid (verification to-do) |
| close | grid workers of the grid (callback to-do) |
| submit, register, reject, close, reopen, close_with | the caller: in-app if the reporter is a
  user, SMS to the caller's phone when there is one (anonymous callers too) |
| escalate_unacknowledged, escalate_overdue (sweeper) | street leaders of the case's street |
| summon | staff of the summoned department |
| report, part | street staff of the case's street |
| report_late, part_late (sweeper) | street leaders of the street and the department's staff |
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.cases.models import Case, HandlerType, Summons
from jiedao.cases.workflow import HANDLER_ROLE
from jiedao.core.scopes import unscoped
from jiedao.notify import services as notify
from jiedao.notify.kinds import due_param
from jiedao.territory.models import Community, Street

logger = logging.getLogger("jiedao.notify")

CALLER_ACTIONS = frozenset({"submit", "register", "reject", "close", "reopen", "close_with"})
ESCALATIONS = {
    "escalate_unacknowledged": "case_unacknowledged",
    "escalate_overdue": "case_overdue",
}


def case_changed(case_id: int, action: str, actor_id: int | None) -> None:
    """Called after the transaction that changed the case commits."""
    try:
        with unscoped():  # recipients are found across territory, whoever's request this ends
            _case_changed(case_id, action, actor_id)
    except Exception:
        logger.exception("notifications for case %s (%s) failed", case_id, action)


def summons_changed(summons_id: int, what: str, actor_id: int | None) -> None:
    """Called after a summons (吹哨) is created ("summon"), reported ("report") or its part
    recorded ("part"), once the transaction commits; by the sweeper with "report_late" and
    "part_late"."""
    try:
        with unscoped():
            _summons_changed(summons_id, what, actor_id)
    except Exception:
        logger.exception("notifications for summons %s (%s) failed", summons_id, what)


# --- Cases ----------------------------------------------------------------------------------


def _case_changed(case_id: int, action: str, actor_id: int | None) -> None:
    case = Case.objects.select_related("category", "handler_department").get(pk=case_id)
    params = case_params(case, _due_for(case, action))
    if action == "dispatch":
        _tell(handler_grants(case), "case_assigned", params, case, actor_id)
    elif action == "reopen":
        handler = handler_grants(case)
        if handler is not None:
            _tell(handler, "case_reopened", params, case, actor_id)
        else:  # closing cleared the handler: the dispatchers must send it out again
            street_staff = Q(role=Role.STREET_STAFF, street__code=case.street_code)
            _tell(street_staff, "case_reopened_dispatch", params, case, actor_id)
    elif action == "request_extension":
        leaders = Q(role=Role.STREET_LEADER, street__code=case.street_code)
        _tell(leaders, "extension_requested", params, case, actor_id)
    elif action in ("approve_extension", "deny_extension"):
        kind = "extension_approved" if action == "approve_extension" else "extension_denied"
        _tell(handler_grants(case), kind, params, case, actor_id)
    elif action == "finish":
        _tell(_grid_workers(case), "case_to_verify", params, case, actor_id)
    elif action == "close":
        _tell(_grid_workers(case), "case_to_call_back", params, case, actor_id)
    elif action in ESCALATIONS:
        leaders = Q(role=Role.STREET_LEADER, street__code=case.street_code)
        _tell(leaders, ESCALATIONS[action], params, case, actor_id)
    if action in CALLER_ACTIONS:
        _tell_caller(case, f"caller_{action}", params, actor_id)


def case_params(case: Case, due: Any = None) -> dict[str, Any]:
    """What the sentences need; no personal data (the caller's name and phone stay out)."""
    params: dict[str, Any] = {"case": case.pk, "category": case.category.name}
    if due is not None:
        params["due"] = due_param(due)
    if case.handler_type:
        params["handler"] = handler_name(case)
    if case.rejection_reason:
        params["reason"] = case.rejection_reason[:100]
    if case.merged_into_id:
        params["main"] = case.merged_into_id
    return params


def _due_for(case: Case, action: str) -> Any:
    """The deadline the action's sentences mention: acknowledging for a dispatch, resolving
    otherwise."""
    if action in ("dispatch", "escalate_unacknowledged"):
        return case.acknowledge_due
    return case.resolve_due


def handler_grants(case: Case) -> Q | None:
    """The grants of everyone acting for the case's current handler (workflow.acts_for_handler):
    staff of the handling department; workstation staff of the handling community (also for a
    property company); street staff of the handling street."""
    role = HANDLER_ROLE.get(case.handler_type)
    if role is None:
        return None
    if case.handler_department_id:
        return Q(role=role, department_id=case.handler_department_id)
    node = "street" if case.handler_type == HandlerType.STREET else "community"
    return Q(role=role, **{f"{node}__code": case.handler_unit_code})


def handler_name(case: Case) -> str:
    if case.handler_department_id:
        return str(case.handler_department)
    node = (
        Street.objects.filter(code=case.handler_unit_code).first()
        if case.handler_type == HandlerType.STREET
        else Community.objects.filter(code=case.handler_unit_code).first()
    )
    return node.name if node is not None else case.handler_unit_code


def _grid_workers(case: Case) -> Q:
    return Q(role=Role.GRID_WORKER, grid_id=case.grid_id)


def _tell_caller(case: Case, kind: str, params: dict[str, Any], actor_id: int | None) -> None:
    if case.reporter_id is not None and case.reporter_id == actor_id:
        return  # the caller acted themselves (a resident's own report)
    if case.reporter_id is not None:
        notify.notify([case.reporter_id], kind, params, case.pk)
    if case.caller_phone:  # anonymous callers too: anonymity hides them from others, not us
        notify.queue_sms(case.caller_phone, kind, params, case)


# --- Summonses ------------------------------------------------------------------------------


def _summons_changed(summons_id: int, what: str, actor_id: int | None) -> None:
    with unscoped():
        summons = Summons.objects.select_related("case__category", "department").get(pk=summons_id)
    case = summons.case
    params = {
        "case": case.pk,
        "category": case.category.name,
        "department": summons.department.name,
    }
    department_staff = Q(role=Role.DEPARTMENT_STAFF, department_id=summons.department_id)
    if what == "summon":
        params["due"] = due_param(summons.report_due)
        _tell(department_staff, "summons_new", params, case, actor_id)
    elif what in ("report", "part"):
        street_staff = Q(role=Role.STREET_STAFF, street__code=case.street_code)
        kind = "summons_reported" if what == "report" else "summons_part"
        _tell(street_staff, kind, params, case, actor_id)
    elif what in ("report_late", "part_late"):
        due = summons.report_due if what == "report_late" else summons.part_due
        params["due"] = due_param(due)
        leaders = Q(role=Role.STREET_LEADER, street__code=case.street_code)
        _tell(leaders | department_staff, f"summons_{what}", params, case, actor_id)
    else:
        logger.warning("summons %s: nothing to tell for %r", summons_id, what)


# --- Delivery -------------------------------------------------------------------------------


def recipients(grants: Q, exclude: Iterable[int | None] = ()) -> list[int]:
    """Users holding an active grant matching ``grants``: one query."""
    skip = {pk for pk in exclude if pk is not None}
    rows = (
        RoleGrant.objects.filter(grants, revoked_at__isnull=True, user__is_active=True)
        .values_list("user_id", flat=True)
        .distinct()
    )
    return sorted(set(rows) - skip)


def _tell(
    grants: Q | None, kind: str, params: dict[str, Any], case: Case, actor_id: int | None
) -> int:
    if grants is None:
        return 0
    return notify.notify(recipients(grants, exclude=[actor_id]), kind, params, case.pk)

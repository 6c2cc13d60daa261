"""The case state machine as one table: (node, action) → (next node, who may do it).

``who`` says which grants count: ``TERRITORY`` — one of ``roles`` on a grant that covers the
case's grid; ``HANDLER`` — one of ``roles`` acting for the case's current handler (its
department, its community workstation or its street office). System administrators may do
everything; the system itself (actor None: jobs, commands) too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.predicates import role_in_territory
from jiedao.accounts.roles import Role
from jiedao.cases.models import (
    DEPARTMENT_HANDLERS,
    NO_CALLER_CHANNELS,
    Case,
    ExtensionState,
    HandlerType,
    Node,
    Rating,
)


class Action(models.TextChoices):
    REGISTER = "register", _("Register")
    REJECT = "reject", _("Decline to register")
    DISPATCH = "dispatch", _("Dispatch")
    RETURN = "return", _("Return as not ours")
    ACKNOWLEDGE = "acknowledge", _("Acknowledge")
    START = "start", _("Start handling")
    REQUEST_EXTENSION = "request_extension", _("Request an extension")
    APPROVE_EXTENSION = "approve_extension", _("Approve the extension")
    DENY_EXTENSION = "deny_extension", _("Deny the extension")
    FINISH = "finish", _("Report as handled")
    VERIFY = "verify", _("Verify on site")
    REWORK = "rework", _("Send back for rework")
    CLOSE = "close", _("Close")
    CALLBACK = "callback", _("Record the caller's rating")
    REOPEN = "reopen", _("Reopen")
    MERGE = "merge", _("Merge into another case")
    CONTACT = "contact", _("Record contact with the caller")


TERRITORY = "territory"
HANDLER = "handler"

DISPATCHERS = frozenset(
    {Role.STREET_STAFF, Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
)
HANDLERS = frozenset(
    {Role.WORKSTATION_STAFF, Role.STREET_STAFF, Role.DEPARTMENT_STAFF, Role.SYSTEM_ADMIN}
)
APPROVERS = frozenset({Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN})
VERIFIERS = frozenset({Role.GRID_WORKER, Role.STREET_STAFF, Role.SYSTEM_ADMIN})
CALLERS_BACK = frozenset(
    {Role.GRID_WORKER, Role.WORKSTATION_STAFF, Role.STREET_STAFF, Role.SYSTEM_ADMIN}
)


@dataclass(frozen=True)
class Step:
    to: str
    roles: frozenset[str]
    who: str = TERRITORY
    # The resident who reported the case may take this step on it too (rating their own case).
    reporter_may: bool = False


_HANDLING = (Node.ACKNOWLEDGED, Node.IN_PROGRESS)
_WITH_HANDLER = (Node.DISPATCHED, Node.ACKNOWLEDGED, Node.IN_PROGRESS, Node.HANDLED)

TABLE: dict[tuple[str, str], Step] = {
    (Node.RECEIVED, Action.REGISTER): Step(Node.REGISTERED, DISPATCHERS),
    (Node.RECEIVED, Action.REJECT): Step(Node.REJECTED, DISPATCHERS),
    (Node.REGISTERED, Action.DISPATCH): Step(Node.DISPATCHED, DISPATCHERS),
    (Node.DISPATCHED, Action.RETURN): Step(Node.REGISTERED, HANDLERS, HANDLER),
    (Node.ACKNOWLEDGED, Action.RETURN): Step(Node.REGISTERED, HANDLERS, HANDLER),
    (Node.DISPATCHED, Action.ACKNOWLEDGE): Step(Node.ACKNOWLEDGED, HANDLERS, HANDLER),
    (Node.ACKNOWLEDGED, Action.START): Step(Node.IN_PROGRESS, HANDLERS, HANDLER),
    **{(n, Action.REQUEST_EXTENSION): Step(n, HANDLERS, HANDLER) for n in _HANDLING},
    **{(n, Action.APPROVE_EXTENSION): Step(n, APPROVERS) for n in _HANDLING},
    **{(n, Action.DENY_EXTENSION): Step(n, APPROVERS) for n in _HANDLING},
    (Node.IN_PROGRESS, Action.FINISH): Step(Node.HANDLED, HANDLERS, HANDLER),
    (Node.HANDLED, Action.VERIFY): Step(Node.VERIFIED, VERIFIERS),
    (Node.HANDLED, Action.REWORK): Step(Node.IN_PROGRESS, VERIFIERS),
    (Node.VERIFIED, Action.CLOSE): Step(Node.CLOSED, DISPATCHERS),
    (Node.CLOSED, Action.CALLBACK): Step(Node.CLOSED, CALLERS_BACK, reporter_may=True),
    (Node.CLOSED, Action.REOPEN): Step(Node.REGISTERED, DISPATCHERS),
    (Node.RECEIVED, Action.MERGE): Step(Node.MERGED, DISPATCHERS),
    (Node.REGISTERED, Action.MERGE): Step(Node.MERGED, DISPATCHERS),
    **{(n, Action.CONTACT): Step(n, HANDLERS, HANDLER) for n in _WITH_HANDLER},
}


def actions_from(node: str) -> list[str]:
    return [action for (start, action) in TABLE if start == node]


def makes_sense(case: Case, action: str) -> bool:
    """Whether offering ``action`` now makes sense beyond the table: the extension steps follow
    the request, a rating is given once (and never for a finding with no caller), only a
    dissatisfied caller's case is reopened. The services refuse the same things."""
    if action == Action.REQUEST_EXTENSION:
        return case.extension not in (ExtensionState.REQUESTED, ExtensionState.APPROVED)
    if action in (Action.APPROVE_EXTENSION, Action.DENY_EXTENSION):
        return case.extension == ExtensionState.REQUESTED
    if action == Action.CALLBACK:
        return not case.rating and case.channel not in NO_CALLER_CHANNELS
    if action == Action.REOPEN:
        return case.rating == Rating.DISSATISFIED
    if action == Action.CONTACT:  # the first contact counts; it is recorded once
        return case.contacted_at is None and case.channel not in NO_CALLER_CHANNELS
    return True


def possible_actions(actor: Any, case: Case) -> list[str]:
    """The steps ``actor`` may take on ``case`` now, the main path first."""
    found = [
        action
        for action in actions_from(case.node)
        if makes_sense(case, action) and may_act(actor, case, TABLE[(case.node, action)])
    ]
    rank = {action: index for index, action in enumerate(MAIN_PATH)}
    return sorted(found, key=lambda action: rank.get(action, len(MAIN_PATH)))


# The forward steps, offered first (a returning or extending step is never the default).
MAIN_PATH: list[str] = [
    Action.REGISTER,
    Action.DISPATCH,
    Action.ACKNOWLEDGE,
    Action.START,
    Action.FINISH,
    Action.VERIFY,
    Action.CLOSE,
    Action.CALLBACK,
    Action.APPROVE_EXTENSION,
]


def decided_without_grants(actor: Any) -> bool | None:
    """True for the system itself (jobs, commands) and system administrators, False for anyone
    not signed in, None when the actor's grants decide."""
    if actor is None:
        return True
    if not getattr(actor, "is_authenticated", False):
        return False
    return True if actor.has_role(Role.SYSTEM_ADMIN) else None


def may_act(actor: Any, case: Case, step: Step) -> bool:
    if (decided := decided_without_grants(actor)) is not None:
        return decided
    if step.reporter_may and case.reporter_id == actor.pk:
        return True
    if step.who == HANDLER:
        return acts_for_handler(actor, case, step.roles)
    return bool(role_in_territory(*step.roles)(actor, case))


# The role that acts for each kind of handler (the workstation answers for a property company).
HANDLER_ROLE: dict[str, str] = {
    HandlerType.COMMUNITY: Role.WORKSTATION_STAFF,
    HandlerType.PROPERTY: Role.WORKSTATION_STAFF,
    HandlerType.STREET: Role.STREET_STAFF,
    HandlerType.DEPARTMENT: Role.DEPARTMENT_STAFF,
    HandlerType.UTILITY: Role.DEPARTMENT_STAFF,
}


def acts_for_handler(actor: Any, case: Case, roles: frozenset[str]) -> bool:
    """The actor holds a grant on the case's current handler, in a role that handles."""
    if case.handler_type in DEPARTMENT_HANDLERS:
        if Role.DEPARTMENT_STAFF not in roles:
            return False
        return case.handler_department_id in actor.scope_for({Role.DEPARTMENT_STAFF}).department_ids
    role = HANDLER_ROLE.get(case.handler_type)
    if role is None or role not in roles:
        return False
    return bool(actor.scope_for({role}).covers_code(case.handler_unit_code))


# Events that are not steps of the table: intake, 吹哨, merges and the sweeper's flags.
OTHER_EVENTS = {
    "submit": _("Received"),
    "summon": _("Departments summoned (吹哨)"),
    "summons_report": _("Department reported (报到)"),
    "summons_part": _("Department recorded its part"),
    "summons_late": _("Department late to answer the summons"),
    "close_with": _("Closed with the case it was merged into"),
    "escalate_unacknowledged": _("Escalated: not acknowledged in time"),
    "escalate_overdue": _("Escalated: past its deadline"),
}


def event_label(action: str) -> str:
    if action in Action.values:
        return str(Action(action).label)
    return str(OTHER_EVENTS.get(action, action))

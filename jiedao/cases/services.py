"""Writes to cases: intake and the one transition service (domain.md §3).

Every change is one transaction with a CaseEvent and an audit entry. ``transition`` locks the
case row and compares the node the caller saw with the stored one, so of two people acting on
the same case at once one wins and the other gets ``TransitionConflict``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.audit.services import log_action, log_sensitive_read, snapshot
from jiedao.cases import gridindex, routing, selectors
from jiedao.cases.coords import to_wgs84
from jiedao.cases.models import (
    CALLER_FIELDS,
    DEPARTMENT_HANDLERS,
    FINAL_NODES,
    NO_CALLER_CHANNELS,
    OPERATOR_CHANNELS,
    PRIVATE_FIELDS,
    Case,
    CaseEvent,
    Category,
    DeliveryState,
    ExtensionState,
    HandlerType,
    Node,
    Rating,
)
from jiedao.cases.workflow import TABLE, Action, may_act
from jiedao.core.scopes import unscoped
from jiedao.territory.models import Department, Grid, StandardAddress
from jiedao.workdays.calendar import Deadline, add_hours, add_working_days, calendar_for_code


class TransitionConflict(Exception):
    """The case moved on since the caller looked at it."""

    def __init__(self, expected: str, actual: str) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(
            _(
                "Someone else changed this case first: it is now “%(actual)s”, not "
                "“%(expected)s”. Reload it and try again."
            )
            % {"actual": _node_label(actual), "expected": _node_label(expected)}
        )


def _node_label(node: str) -> str:
    return str(Node(node).label) if node in Node.values else node


class TransitionNotAllowed(ValidationError):
    pass


# --- Intake ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intake:
    case: Case
    created: bool


def submit_case(
    actor: Any,
    *,
    channel: str,
    category: Category,
    description: str,
    lng: float | None = None,
    lat: float | None = None,
    crs: str = "wgs84",
    address: StandardAddress | None = None,
    urgent: bool = False,
    caller_name: str = "",
    caller_phone: str = "",
    anonymous: bool = False,
    source_system: str = "",
    idempotency_key: str = "",
    external_id: str = "",
    attributes: dict[str, Any] | None = None,
) -> Intake:
    """Receive a case. A retried submission (same source system and idempotency key) returns
    the first case and creates nothing. Every channel may submit: the channel's own layer
    (form, API, Open311) authenticates the caller."""
    if idempotency_key and (earlier := _by_key(source_system, idempotency_key)) is not None:
        return Intake(earlier, created=False)
    _check_category(category)
    if not description.strip():
        raise ValidationError(_("Describe the problem."), code="description")
    case = Case(
        channel=channel,
        category=category,
        description=description.strip(),
        urgent=urgent,
        address=address,
        caller_name="" if anonymous else caller_name,
        caller_phone=caller_phone,
        anonymous=anonymous,
        # The operator who typed a call in is in the intake event, not the case's reporter.
        reporter=actor if getattr(actor, "pk", None) and channel not in OPERATOR_CHANNELS else None,
        source_system=source_system,
        idempotency_key=idempotency_key,
        external_id=external_id,
        attributes=attributes or {},
        delivery_state=DeliveryState.PENDING if source_system else DeliveryState.NONE,
    )
    _place(case, lng, lat, crs, address)
    try:
        with transaction.atomic():
            case.save()
            record_event(actor, case, "submit", "", Node.RECEIVED, "", {"channel": channel})
            log_action(actor, "cases.case.create", case, after=_snapshot(case))
            _after_commit(case, "submit", actor)
    except IntegrityError:
        earlier = _by_key(source_system, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return Intake(earlier, created=False)  # a concurrent retry won the race
    return Intake(case, created=True)


def _snapshot(case: Case) -> dict[str, Any] | None:
    return snapshot(case, exclude=PRIVATE_FIELDS)


# --- The caller's contact ---------------------------------------------------------------------

MIN_REASON = 4
MAX_REASON = 500


def reveal_contact(actor: Any, case: Case, field: str, reason: str) -> str:
    """The plaintext of the caller's name or phone for someone who may see the contact
    (``selectors.sees_caller_contact``), with the reason written to the audit trail as one
    sensitive read. An empty field reveals nothing and is not logged."""
    if field not in CALLER_FIELDS:
        raise ValueError(f"{field} is not a caller field")
    if not selectors.sees_caller_contact(actor, case):
        raise PermissionDenied(_("You may not see this caller's contact."))
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON:
        raise ValidationError(
            _("Say why you need to see it (at least 4 characters)."), code="reason"
        )
    value: str = getattr(case, field) or ""
    if value:
        log_sensitive_read(actor, case, field, reason[:MAX_REASON])
    return value


def _by_key(source_system: str, key: str) -> Case | None:
    with unscoped():
        return Case.objects.filter(source_system=source_system, idempotency_key=key).first()


def _check_category(category: Category) -> None:
    if category.is_main or not category.active:
        raise ValidationError(
            _("Choose an active subcategory (小类) for the case."), code="category"
        )


def _place(
    case: Case, lng: float | None, lat: float | None, crs: str, address: StandardAddress | None
) -> None:
    """Store the point in WGS-84 and find the grid: from the standard address when there is
    one, otherwise from the point."""
    if lng is None or lat is None:
        if address is None:
            raise ValidationError(_("Give a location or a standard address."), code="location")
    else:
        try:
            case.lng, case.lat = to_wgs84(float(lng), float(lat), crs)
        except (TypeError, ValueError) as exc:
            raise ValidationError(_("The coordinates are not valid."), code="coordinates") from exc
    if address is not None:
        case.grid = address.grid
        if case.lng is None:  # the address's point puts the case on the map
            case.lng, case.lat = address.lng, address.lat
        return
    hit = gridindex.locate(case.lng, case.lat)  # type: ignore[arg-type]
    if hit is None:
        raise ValidationError(
            _("This location lies outside the street's grids."), code="outside_street"
        )
    with unscoped():
        case.grid = Grid.all_objects.select_related("community").get(pk=hit.grid_id)


# --- Transitions ----------------------------------------------------------------------------


@transaction.atomic
def transition(
    actor: Any,
    case: Case,
    action: str,
    note: str = "",
    *,
    expected_node: str | None = None,
    **data: Any,
) -> Case:
    """Apply ``action`` to ``case``: the table decides where it goes and who may do it.

    ``expected_node`` (default: the node of the ``case`` object the caller holds) must still be
    the stored node, otherwise ``TransitionConflict``. ``case`` is updated in place."""
    expected = expected_node or case.node
    with unscoped():
        locked = (
            Case.objects.select_for_update(of=("self",))
            .select_related("grid", "category", "handler_department")
            .get(pk=case.pk)
        )
    if locked.node != expected:
        raise TransitionConflict(expected, locked.node)
    step = TABLE.get((locked.node, action))
    if step is None:
        raise TransitionNotAllowed(
            _("“%(action)s” is not possible while the case is “%(node)s”.")
            % {"action": _action_label(action), "node": Node(locked.node).label},
            code="not_allowed",
        )
    if not may_act(actor, locked, step):
        raise PermissionDenied(
            _("You may not do this on this case: it is outside your role or territory.")
        )
    before, from_node = _snapshot(locked), locked.node
    EFFECTS[action](locked, note, data)
    locked.node = step.to
    if locked.source_system:
        locked.delivery_state = DeliveryState.PENDING
    locked.save()
    record_event(actor, locked, action, from_node, step.to, note, _event_data(data))
    log_action(
        actor, f"cases.case.{action}", locked, before=before, after=_snapshot(locked), note=note
    )
    _after_commit(locked, action, actor)
    for field in Case._meta.concrete_fields:
        setattr(case, field.attname, getattr(locked, field.attname))
    return case


def _after_commit(case: Case, action: str, actor: Any) -> None:
    """Tell the people concerned once the change is committed (in-app and SMS)."""
    from jiedao.cases import notifications

    case_id, actor_id = case.pk, getattr(actor, "pk", None)
    transaction.on_commit(lambda: notifications.case_changed(case_id, action, actor_id))


def _action_label(action: str) -> str:
    try:
        return str(Action(action).label)
    except ValueError:
        return action


def _event_data(data: dict[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "pk", v) for k, v in data.items()}


def record_event(
    actor: Any, case: Case, action: str, from_node: str, to_node: str, note: str, data: dict
) -> None:
    CaseEvent(
        case=case,
        action=action,
        from_node=from_node,
        to_node=to_node,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=getattr(actor, "username", "") or "system",
        note=note,
        data=data,
    ).save()


# --- What each action does besides moving the node -------------------------------------------


def _require_note(note: str, message: str) -> None:
    if not note.strip():
        raise ValidationError(message, code="note_required")


def _register(case: Case, note: str, data: dict) -> None:
    start_the_clock(case, timezone.now())


CountDays = Callable[[Any, int], Deadline]


def start_the_clock(case: Case, at: Any, count_days: CountDays | None = None) -> None:
    """Registration (or reopening) starts the resolve and contact deadlines. ``count_days``
    (start, days) → deadline lets a bulk writer (the demo) reuse one calendar."""
    case.registered_at = at
    case.contact_due = add_hours(at, case.category.contact_hours)
    days = case.category.urgent_deadline_days if case.urgent else case.category.deadline_days
    _set_resolve_due(case, days, count_days)


def _set_resolve_due(case: Case, days: int, count_days: CountDays | None = None) -> None:
    assert case.registered_at is not None, "deadlines run from registration"
    if count_days is None:
        deadline = add_working_days(
            case.registered_at, days, calendar_for_code(case.territory_code)
        )
    else:
        deadline = count_days(case.registered_at, days)
    case.resolve_due = deadline.due_at
    case.deadline_note = deadline.basis_note[:300]


def start_acknowledge_clock(case: Case, at: Any) -> None:
    """Dispatch starts the acknowledge deadline (the category's minutes; urgent ones if urgent)."""
    case.dispatched_at, case.acknowledged_at = at, None
    minutes = (
        case.category.urgent_acknowledge_minutes
        if case.urgent
        else case.category.acknowledge_minutes
    )
    case.acknowledge_due = add_hours(at, minutes / 60)


def _reject(case: Case, note: str, data: dict) -> None:
    _require_note(note, _("Say why the case is not registered (duplicate, out of scope …)."))
    case.rejection_reason = note.strip()[:300]


def _dispatch(case: Case, note: str, data: dict) -> None:
    handler_type = data.get("handler_type")
    department = data.get("department")
    if handler_type is None:
        route = routing.resolve_route(case.category, case.territory_code)
        handler_type, department = route.handler_type, department or route.department
    _set_handler(case, HandlerType(handler_type), department, data.get("organisation"))
    start_acknowledge_clock(case, timezone.now())
    # The event records whom the case went to, also when the routing table chose.
    data.update(
        handler_type=case.handler_type,
        department=case.handler_department_id,
        unit_code=case.handler_unit_code,
    )


def _set_handler(case: Case, handler_type: str, department: Any, organisation: Any) -> None:
    case.handler_type = handler_type
    case.handler_organisation = organisation if handler_type == HandlerType.PROPERTY else None
    if handler_type in DEPARTMENT_HANDLERS:
        if isinstance(department, int):
            with unscoped():
                department = Department.objects.filter(pk=department).first()
        if department is None:
            raise ValidationError(
                _("Choose the department to send the case to."), code="department"
            )
        if department.territory_code[:6] != case.territory_code[:6]:
            raise ValidationError(
                _("That department belongs to another district."), code="department_district"
            )
        case.handler_department, case.handler_unit_code = department, ""
    else:
        case.handler_department = None
        case.handler_unit_code = routing.unit_code_for(handler_type, case.territory_code)
    case.last_handler_type = case.handler_type
    case.last_handler_department = case.handler_department
    case.last_handler_unit_code = case.handler_unit_code


def _clear_handler(case: Case) -> None:
    case.handler_type, case.handler_unit_code = "", ""
    case.handler_department = case.handler_organisation = None


def _return(case: Case, note: str, data: dict) -> None:
    _require_note(note, _("Say why the case is not yours to handle."))
    _clear_handler(case)
    case.return_count += 1
    case.acknowledge_due = case.acknowledged_at = case.dispatched_at = None
    if case.extension == ExtensionState.REQUESTED:  # an approved one stays with its deadline
        case.extension = ExtensionState.NONE


def _acknowledge(case: Case, note: str, data: dict) -> None:
    case.acknowledged_at = timezone.now()


def _nothing(case: Case, note: str, data: dict) -> None:
    return None


def _request_extension(case: Case, note: str, data: dict) -> None:
    if case.extension in (ExtensionState.REQUESTED, ExtensionState.APPROVED):
        raise ValidationError(_("An extension was already requested."), code="extension")
    _require_note(note, _("Say why the case needs more time."))
    case.extension = ExtensionState.REQUESTED


def _decide_extension(approve: bool) -> Callable[[Case, str, dict], None]:
    def effect(case: Case, note: str, data: dict) -> None:
        if case.extension != ExtensionState.REQUESTED:
            raise ValidationError(_("No extension is waiting for a decision."), code="extension")
        case.extension = ExtensionState.APPROVED if approve else ExtensionState.DENIED
        if approve:  # complex cases: 15 working days from registration (domain.md §3)
            _set_resolve_due(case, case.category.extended_deadline_days)

    return effect


def _finish(case: Case, note: str, data: dict) -> None:
    case.handled_at = timezone.now()


def _verify(case: Case, note: str, data: dict) -> None:
    case.verified_at = timezone.now()


def _rework(case: Case, note: str, data: dict) -> None:
    _require_note(note, _("Say what is still wrong."))
    case.handled_at = None
    case.rework_count += 1


def _close(case: Case, note: str, data: dict) -> None:
    case.closed_at = timezone.now()
    _clear_handler(case)
    _close_followers(case, note)


def _close_followers(case: Case, note: str) -> None:
    """Merged cases are handled once: when the case they joined closes, each of them is
    closed too, with its own event, so every caller is answered."""
    with unscoped():
        followers = list(
            Case.objects.select_for_update().filter(merged_into=case, node=Node.MERGED)
        )
    for follower in followers:
        follower.closed_at = case.closed_at
        if follower.source_system:
            follower.delivery_state = DeliveryState.PENDING
        follower.save()
        record_event(
            None, follower, "close_with", Node.MERGED, Node.MERGED, note, {"case": case.pk}
        )
        _after_commit(follower, "close_with", None)


def _merge(case: Case, note: str, data: dict) -> None:
    into = data.get("into")
    pk = getattr(into, "pk", into)
    with unscoped():  # locked: a target closing at this moment must see its new follower
        target = Case.objects.select_for_update(of=("self",)).filter(pk=pk).first() if pk else None
    if target is None or target.pk == case.pk:
        raise ValidationError(_("Choose the case to merge this one into."), code="merge_target")
    if target.node in FINAL_NODES or target.street_code != case.street_code:
        raise ValidationError(
            _("A case can only join an open case of the same street."), code="merge_target"
        )
    case.merged_into = target
    with unscoped():  # cases that had joined this one follow it, so they close with the target
        Case.objects.filter(merged_into=case, node=Node.MERGED).update(merged_into=target)


def _contact(case: Case, note: str, data: dict) -> None:
    if case.contacted_at is None:
        case.contacted_at = timezone.now()


def _callback(case: Case, note: str, data: dict) -> None:
    if case.channel in NO_CALLER_CHANNELS:
        raise ValidationError(_("A patrol finding has no caller to rate it."), code="no_caller")
    if case.rating:
        raise ValidationError(_("The caller's rating is already recorded."), code="rated")
    try:
        case.rating = Rating(str(data.get("rating", "")))
    except ValueError as exc:
        raise ValidationError(
            _("Record the caller's rating: satisfied, mostly satisfied or dissatisfied."),
            code="rating",
        ) from exc
    # 解决率: "solved" is the caller's own word; without it, any rating but 不满意 counts.
    solved = data.get("solved")
    case.solved = case.rating != Rating.DISSATISFIED if solved is None else bool(solved)


def _reopen(case: Case, note: str, data: dict) -> None:
    if case.rating != Rating.DISSATISFIED:
        raise ValidationError(
            _("Only a case the caller is dissatisfied with is reopened."), code="reopen"
        )
    case.reopen_count += 1
    case.rating = ""
    case.solved = None
    case.contacted_at = None  # the caller is contacted again in the new round
    case.extension = ExtensionState.NONE
    case.dispatched_at = case.acknowledged_at = case.acknowledge_due = None
    case.handled_at = case.verified_at = case.closed_at = None
    start_the_clock(case, timezone.now())


EFFECTS: dict[str, Callable[[Case, str, dict], None]] = {
    Action.REGISTER: _register,
    Action.REJECT: _reject,
    Action.DISPATCH: _dispatch,
    Action.RETURN: _return,
    Action.ACKNOWLEDGE: _acknowledge,
    Action.START: _nothing,
    Action.REQUEST_EXTENSION: _request_extension,
    Action.APPROVE_EXTENSION: _decide_extension(True),
    Action.DENY_EXTENSION: _decide_extension(False),
    Action.FINISH: _finish,
    Action.VERIFY: _verify,
    Action.REWORK: _rework,
    Action.CLOSE: _close,
    Action.CALLBACK: _callback,
    Action.REOPEN: _reopen,
    Action.MERGE: _merge,
    Action.CONTACT: _contact,
}

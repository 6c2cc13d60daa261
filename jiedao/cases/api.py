"""Cases over the JSON API (/api/cases): the catalogue, lists and details inside the caller's
scope, intake from other systems (idempotent with the ``Idempotency-Key`` header) and the
workflow actions. The rules live in services.py and workflow.py; this module translates.

No ``from __future__ import annotations`` here: django-ninja reads the endpoint signatures
through its pagination wrapper, which cannot resolve names given as strings."""

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Header, Router, Schema, Status
from ninja.pagination import PageNumberPagination, paginate
from pydantic import ConfigDict

from jiedao.cases import selectors
from jiedao.cases.coords import CRS
from jiedao.cases.models import Case, Category, Channel, HandlerType, Node, Rating
from jiedao.cases.services import (
    MAX_REASON,
    TransitionConflict,
    TransitionNotAllowed,
    reveal_contact,
    submit_case,
    transition,
)
from jiedao.cases.workflow import (
    Action,
    possible_actions,
)
from jiedao.core.api import Error, error
from jiedao.core.scopes import code_within, unscoped
from jiedao.territory.models import StandardAddress

router = Router(tags=["cases"])
ERRORS: dict[int | tuple[int, ...], Any] = {(401, 403, 404, 409, 422): Error}

MAX_DESCRIPTION = 4000
MAX_NOTE = 2000
MAX_IDEMPOTENCY_KEY = 120  # Case.idempotency_key
ORDERINGS = ("created_at", "resolve_due", "acknowledge_due", "id")
# The body fields each action reads; any other action refuses them rather than ignore them.
ACTION_FIELDS: dict[str, frozenset[str]] = {
    Action.DISPATCH: frozenset({"handler_type", "department_id"}),
    Action.CALLBACK: frozenset({"rating", "solved"}),
    Action.MERGE: frozenset({"into"}),
}


# --- Schemas ----------------------------------------------------------------------------------


class SubcategoryOut(Schema):
    code: str
    name: str
    deadline_days: int
    urgent_deadline_days: int
    handler_type: str
    attributes: list[Any]


class CategoryOut(Schema):
    code: str
    name: str
    children: list[SubcategoryOut]


class CaseFields(Schema):
    """What a list row shows; the detail adds to it."""

    id: int
    channel: str
    category_code: str
    category_name: str
    description: str
    urgent: bool
    node: str
    node_label: str
    public_status: str
    grid_code: str
    grid_name: str
    lng: float | None
    lat: float | None
    address_id: int | None
    handler_type: str
    handler_department_id: int | None
    handler_unit_code: str
    handler: str
    external_id: str
    created_at: datetime
    registered_at: datetime | None
    acknowledge_due: datetime | None
    resolve_due: datetime | None
    closed_at: datetime | None
    overdue: bool


class CaseOut(CaseFields):
    @staticmethod
    def resolve_category_code(obj: Case) -> str:
        return obj.category.code

    @staticmethod
    def resolve_category_name(obj: Case) -> str:
        return obj.category.name

    @staticmethod
    def resolve_node_label(obj: Case) -> str:
        return str(Node(obj.node).label)

    @staticmethod
    def resolve_grid_code(obj: Case) -> str:
        return obj.grid.code

    @staticmethod
    def resolve_grid_name(obj: Case) -> str:
        return obj.grid.name

    @staticmethod
    def resolve_handler(obj: Case) -> str:
        return obj.handler_label

    @staticmethod
    def resolve_overdue(obj: Case) -> bool:
        return is_overdue(obj)


class EventOut(Schema):
    action: str
    from_node: str
    to_node: str
    actor: str  # the acting user's login; blank for residents, who see what happened, not who
    at: datetime
    note: str


class SummonsOut(Schema):
    department_id: int
    department: str
    reason: str
    summoned_at: datetime
    report_due: datetime
    part_due: datetime
    reported_at: datetime | None
    part: str
    part_recorded_at: datetime | None
    reported_late: bool
    part_late: bool


class CaseDetailOut(CaseFields):
    community_code: str
    street_code: str
    address: str
    anonymous: bool
    contact_visible: bool
    # Masked (王*明, 138****5678); null when the caller may not see it (see CONTACT_ROLES).
    # The plaintext only through POST /cases/{id}/reveal, with a reason.
    caller_name: str | None
    caller_phone: str | None
    delivery_state: str
    extension: str
    rating: str
    solved: bool | None
    rejection_reason: str
    deadline_note: str
    contact_due: datetime | None
    contacted_at: datetime | None
    dispatched_at: datetime | None
    acknowledged_at: datetime | None
    handled_at: datetime | None
    verified_at: datetime | None
    return_count: int
    rework_count: int
    reopen_count: int
    merged_into_id: int | None
    actions: list[str]  # what the caller may do now
    events: list[EventOut]
    summonses: list[SummonsOut]


class CaseIn(Schema):
    """A new case. Give ``lng``/``lat`` (in ``crs``) or ``address`` (a standard address id)."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(..., max_length=16, description="an active subcategory (小类) code")
    description: str = Field(..., max_length=MAX_DESCRIPTION)
    lng: float | None = None
    lat: float | None = None
    crs: CRS = Field(default=CRS.WGS84, description="wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu)")
    address: int | None = Field(default=None, description="a standard address (标准地址) id")
    urgent: bool = False
    caller_name: str = Field(default="", max_length=60)
    caller_phone: str = Field(default="", max_length=32)
    anonymous: bool = False
    external_id: str = Field(default="", max_length=120, description="the case's id in your system")


class RevealIn(Schema):
    model_config = ConfigDict(extra="forbid")

    field: Literal["caller_name", "caller_phone"]
    reason: str = Field(..., max_length=MAX_REASON, description="why you need it (audited)")


class RevealOut(Schema):
    field: str
    value: str


class ActionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=MAX_NOTE)
    expected_node: Node | None = Field(
        default=None, description="the node you saw; 409 if it moved on"
    )
    rating: Rating | None = None
    solved: bool | None = None
    handler_type: HandlerType | None = None
    department_id: int | None = None
    into: int | None = Field(default=None, description="merge: the case to join")


# --- Reads ------------------------------------------------------------------------------------


def is_overdue(case: Case) -> bool:
    return case.is_overdue


def available_actions(actor: Any, case: Case) -> list[str]:
    return possible_actions(actor, case)


def _detail(actor: Any, case: Case) -> dict[str, Any]:
    contact = selectors.sees_caller_contact(actor, case)
    staff = selectors.is_staff_viewer(actor)
    data = CaseOut.model_validate(case).model_dump()
    data.update(
        community_code=case.community_code,
        street_code=case.street_code,
        address=case.address.full_text if case.address is not None else "",
        anonymous=case.anonymous,
        contact_visible=contact,
        caller_name=selectors.masked_contact(case, "caller_name") if contact else None,
        caller_phone=selectors.masked_contact(case, "caller_phone") if contact else None,
        actions=available_actions(actor, case),
        events=[
            {
                "action": e.action,
                "from_node": e.from_node,
                "to_node": e.to_node,
                "actor": e.actor_label if staff else "",
                "at": e.at,
                "note": e.note if staff else "",  # staff notes are internal
            }
            for e in selectors.events_of(case)
        ],
        summonses=[
            {
                "department_id": s.department_id,
                "department": s.department.name,
                "reason": s.reason,
                "summoned_at": s.summoned_at,
                "report_due": s.report_due,
                "part_due": s.part_due,
                "reported_at": s.reported_at,
                "part": s.part,
                "part_recorded_at": s.part_recorded_at,
                "reported_late": s.reported_late,
                "part_late": s.part_late,
            }
            for s in (selectors.summonses_of(case) if staff else [])
        ],
    )
    for name in CaseDetailOut.model_fields:
        data.setdefault(name, getattr(case, name, None))
    return data


def _visible(request: HttpRequest, case_id: int) -> Case:
    try:
        return selectors.case(request.user, case_id)
    except Case.DoesNotExist as exc:
        raise Http404 from exc


def _fresh(case_id: int) -> Case:
    """The case as stored now, for the answer to the one who just changed it (a handler who
    returned a case no longer sees it, but is told what became of it)."""
    with unscoped():
        return Case.objects.select_related("category", "grid", "handler_department", "address").get(
            pk=case_id
        )


def _invalid(request: HttpRequest, exc: ValidationError) -> Any:
    code = getattr(exc, "code", None) or "invalid"
    return error(request, 422, str(code), "; ".join(str(m) for m in exc.messages))


@router.get(
    "/categories",
    response={200: list[CategoryOut], **ERRORS},
    summary="The active case catalogue: main categories (大类) with their subcategories (小类)",
)
def list_categories(request):
    children = Prefetch("children", queryset=Category.objects.filter(active=True).order_by("code"))
    return Category.objects.filter(active=True, parent__isnull=True).prefetch_related(children)


def _filtered(
    rows: QuerySet[Case],
    *,
    node: Node | None,
    category: str,
    territory: str,
    overdue: bool | None,
    department: int | None,
    q: str,
    created_after: datetime | None,
    created_before: datetime | None,
) -> QuerySet[Case]:
    if node:
        rows = rows.filter(node=node)
    if category:  # a subcategory, or a main category with all of its subcategories
        rows = rows.filter(Q(category__code=category) | Q(category__parent__code=category))
    if territory:
        rows = rows.filter(code_within("territory_code", territory))
    if overdue is not None:
        late = selectors.queue_q("overdue")
        rows = rows.filter(late) if overdue else rows.exclude(late)
    if department is not None:
        rows = rows.filter(handler_department_id=department)
    if q.strip():
        rows = rows.filter(description__icontains=q.strip())
    if created_after is not None:
        rows = rows.filter(created_at__gte=_aware(created_after))
    if created_before is not None:
        rows = rows.filter(created_at__lt=_aware(created_before))
    return rows


def _aware(moment: datetime) -> datetime:
    """A time without a zone is Beijing time."""
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _ordering(ordering: str) -> list[str]:
    field = ordering.removeprefix("-")
    if field not in ORDERINGS:
        raise ValidationError(
            _("ordering must be one of %(choices)s, optionally with a leading “-”.")
            % {"choices": ", ".join(ORDERINGS)},
            code="invalid",
        )
    tiebreak = "-id" if ordering.startswith("-") else "id"
    return [ordering] if field == "id" else [ordering, tiebreak]


@router.get("", response={200: list[CaseOut], **ERRORS}, summary="Cases in your territory")
@paginate(PageNumberPagination)
def list_cases(
    request,
    node: Node | None = None,
    category: str = "",
    territory: str = "",
    overdue: bool | None = None,
    department: int | None = None,
    q: str = "",
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    ordering: str = "-created_at",
):
    """``category``: a 小类 or 大类 code; ``territory``: a code prefix (street, community, grid);
    ``overdue``: past ``resolve_due`` and not closed, rejected or merged; ``department``: the
    handling department's id; ``q``: words in the description; ``created_after`` (inclusive)
    and ``created_before`` (exclusive): ISO dates or times, Beijing time when no zone is given;
    ``ordering``: created_at, resolve_due, acknowledge_due or id, “-” for descending."""
    rows = _filtered(
        selectors.cases(request.user),
        node=node,
        category=category,
        territory=territory,
        overdue=overdue,
        department=department,
        q=q,
        created_after=created_after,
        created_before=created_before,
    )
    return rows.order_by(*_ordering(ordering))


@router.get("/{int:case_id}", response={200: CaseDetailOut, **ERRORS}, summary="One case")
def get_case(request, case_id: int):
    return _detail(request.user, _visible(request, case_id))


@router.post(
    "/{int:case_id}/reveal",
    response={200: RevealOut, **ERRORS},
    summary="The caller's name or phone in clear, with a reason (written to the audit trail)",
)
def reveal(request, case_id: int, payload: RevealIn, response: HttpResponse):
    """For those who see the caller's contact (``contact_visible``); 403 for others, 422
    when the reason is shorter than 4 characters. Every reveal is one audit entry."""
    case = _visible(request, case_id)
    try:
        value = reveal_contact(request.user, case, payload.field, payload.reason)
    except ValidationError as exc:
        return _invalid(request, exc)
    response["Cache-Control"] = "no-store"  # the plaintext must not stay in any cache
    return {"field": payload.field, "value": value}


# --- Intake -----------------------------------------------------------------------------------


def _source_system(user: Any) -> str:
    """Idempotency keys are per calling account."""
    name = f"api:{user.username}"
    return name if len(name) <= 60 else f"api:#{user.pk}"


def _category(code: str) -> Category:
    found = Category.objects.filter(code=code).first()
    if found is None:
        raise ValidationError(
            _("There is no case category “%(code)s”.") % {"code": code[:16]}, code="category"
        )
    return found


def _address(address_id: int | None) -> StandardAddress | None:
    if address_id is None:
        return None
    with unscoped():
        found = StandardAddress.all_objects.select_related("grid").filter(pk=address_id).first()
    if found is None:
        raise ValidationError(_("There is no such standard address."), code="address")
    return found


def _check_point(payload: CaseIn) -> None:
    if (payload.lng is None) != (payload.lat is None):
        raise ValidationError(_("Give both lng and lat, or neither."), code="coordinates")


@router.post(
    "",
    response={200: CaseDetailOut, 201: CaseDetailOut, **ERRORS},
    summary="Submit a case (201; 200 with the first case when the Idempotency-Key was used)",
)
def create_case(
    request,
    payload: CaseIn,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
):
    """Send an ``Idempotency-Key`` header (up to 120 characters, unique per request in your
    system) so that a retry after a timeout returns the first case instead of a second one.
    The key is kept per API account; a retry returns the first case whatever its body."""
    key = idempotency_key.strip()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        return error(
            request, 422, "invalid", _("The Idempotency-Key header is longer than 120 characters.")
        )
    source = _source_system(request.user)
    try:
        _check_point(payload)
        intake = submit_case(
            request.user,
            channel=Channel.API,
            category=_category(payload.category),
            description=payload.description,
            lng=payload.lng,
            lat=payload.lat,
            crs=payload.crs,
            address=_address(payload.address),
            urgent=payload.urgent,
            caller_name=payload.caller_name.strip(),
            caller_phone=payload.caller_phone.strip(),
            anonymous=payload.anonymous,
            source_system=source,
            idempotency_key=key,
            external_id=payload.external_id.strip(),
        )
    except ValidationError as exc:
        # submit_case answers a retry before it validates anything; this is a retry whose
        # body no longer passes (the category was retired since): the first answer still holds.
        if key and (earlier := _submitted(source, key)) is not None:
            return Status(200, _detail(request.user, earlier))
        return _invalid(request, exc)
    return Status(201 if intake.created else 200, _detail(request.user, intake.case))


def _submitted(source_system: str, key: str) -> Case | None:
    """The case this account already submitted with this key (its own: no scope needed)."""
    with unscoped():
        rows = Case.objects.select_related("category", "grid", "handler_department", "address")
        return rows.filter(source_system=source_system, idempotency_key=key).first()


# --- Workflow ---------------------------------------------------------------------------------


def _action_data(request: HttpRequest, action: str, payload: ActionIn) -> dict[str, Any]:
    """The service's keyword arguments from the body; fields the action does not read are
    refused, so a typo never passes unnoticed."""
    given = {
        name
        for name in ("rating", "solved", "handler_type", "department_id", "into")
        if getattr(payload, name) is not None
    }
    stray = sorted(given - ACTION_FIELDS.get(action, frozenset()))
    if stray:
        raise ValidationError(
            _("%(fields)s does not apply to “%(action)s”.")
            % {"fields": ", ".join(stray), "action": action},
            code="invalid",
        )
    data: dict[str, Any] = {}
    if payload.rating is not None:
        data["rating"] = payload.rating.value
    if payload.solved is not None:
        data["solved"] = payload.solved
    if payload.handler_type is not None:
        data["handler_type"] = payload.handler_type.value
    if payload.department_id is not None:
        data["department"] = payload.department_id
    if payload.into is not None:  # only a case the caller can see can be joined
        data["into"] = selectors.cases(request.user).filter(pk=payload.into).first()
    return data


@router.post(
    "/{int:case_id}/actions/{action}",
    response={200: CaseDetailOut, **ERRORS},
    summary="Move a case on: register, dispatch, acknowledge … (see docs/cases-api.md)",
)
def act(request, case_id: int, action: str, payload: ActionIn | None = None):
    """409 ``conflict`` when the case is no longer at ``expected_node`` (someone else acted
    first); 422 when the step is not possible from the case's node or its input is missing;
    403 when your role or territory does not allow it. A refused action changes nothing."""
    case = _visible(request, case_id)
    if action not in Action.values:
        return error(
            request,
            404,
            "unknown_action",
            _("There is no action “%(action)s”.") % {"action": action[:40]},
        )
    payload = payload or ActionIn()
    try:
        data = _action_data(request, action, payload)
        transition(
            request.user,
            case,
            action,
            payload.note.strip(),
            expected_node=payload.expected_node.value if payload.expected_node else None,
            **data,
        )
    except TransitionConflict as exc:
        return error(request, 409, "conflict", str(exc))
    except TransitionNotAllowed as exc:
        return error(request, 422, "not_allowed", "; ".join(str(m) for m in exc.messages))
    except ValidationError as exc:
        return _invalid(request, exc)
    return _detail(request.user, _fresh(case.pk))

"""吹哨报到 (domain.md §3): the street summons district departments to a case; each must 报到
(report: acknowledge and join) by a deadline and record its part. Late or missing responses are
flagged by the sweeper (``sweeper.py``); the flags here are what the pages show."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.accounts.roles import Role
from jiedao.audit.services import log_action, snapshot
from jiedao.cases.models import FINAL_NODES, Case, Node, Summons
from jiedao.cases.services import record_event
from jiedao.cases.workflow import DISPATCHERS, Step, decided_without_grants, may_act
from jiedao.core.scopes import unscoped
from jiedao.territory.models import Department
from jiedao.workdays.calendar import add_hours, add_working_days, calendar_for_code

# 吹哨 is for cases the street is working on: registered and in handling, not before or after.
SUMMONABLE_NODES = frozenset(
    {Node.REGISTERED, Node.DISPATCHED, Node.ACKNOWLEDGED, Node.IN_PROGRESS}
)
DEFAULT_PART_DAYS = 3


def may_summon(actor: Any, case: Case) -> bool:
    return case.node in SUMMONABLE_NODES and may_act(actor, case, Step(case.node, DISPATCHERS))


@transaction.atomic
def summon_departments(
    actor: Any,
    case: Case,
    departments: Iterable[Department],
    reason: str,
    *,
    report_hours: float | None = None,
    part_due: datetime | None = None,
) -> list[Summons]:
    """Blow the whistle: one summons per department, each due to report within ``report_hours``
    (default: the category's acknowledge time) and to record its part by ``part_due`` (default:
    the case's resolve deadline, or 3 working days when that is sooner than the report)."""
    with unscoped():
        locked = (
            Case.objects.select_for_update(of=("self",)).select_related("category").get(pk=case.pk)
        )
    departments = list(departments)
    _check_summons(actor, locked, departments, reason)
    now = timezone.now()
    default_report, default_part = default_deadlines(locked, now)
    report_due = add_hours(now, report_hours) if report_hours else default_report
    due = part_due or default_part
    if due <= report_due:
        raise ValidationError(
            _("The part must be due after the departments report."), code="part_due"
        )
    made = []
    try:
        with transaction.atomic():
            for department in departments:
                summons = Summons(
                    case=locked,
                    department=department,
                    reason=reason.strip(),
                    summoned_by=_user(actor),
                    report_due=report_due,
                    part_due=due,
                )
                summons.save()
                log_action(actor, "cases.summons.create", summons, after=snapshot(summons))
                made.append(summons)
    except IntegrityError as exc:
        raise ValidationError(
            _("One of these departments has already been summoned to this case."),
            code="summoned_twice",
        ) from exc
    record_event(
        actor,
        locked,
        "summon",
        locked.node,
        locked.node,
        reason,
        {"departments": [d.pk for d in departments]},
    )
    for summons in made:
        _after_commit(summons, "summon", actor)
    return made


def _check_summons(actor: Any, case: Case, departments: list[Department], reason: str) -> None:
    if case.node not in SUMMONABLE_NODES:
        raise ValidationError(
            _("Departments can be summoned while the case is registered or being handled."),
            code="not_summonable",
        )
    if not may_summon(actor, case):
        raise PermissionDenied(_("Only the street's dispatchers may summon departments."))
    if not departments:
        raise ValidationError(_("Choose at least one department."), code="departments")
    if any(d.territory_code[:6] != case.territory_code[:6] for d in departments):
        raise ValidationError(
            _("Only departments of the case's district can be summoned."), code="district"
        )
    if not reason.strip():
        raise ValidationError(_("Say why the departments are needed."), code="reason")


def default_deadlines(
    case: Case, at: datetime, count_days: Any = None
) -> tuple[datetime, datetime]:
    """报到 within the category's acknowledge time (2 h, urgent 30 min); the part with the case's
    resolve deadline, or 3 working days when that is already past. ``count_days`` as in
    ``services.start_the_clock``."""
    minutes = (
        case.category.urgent_acknowledge_minutes
        if case.urgent
        else case.category.acknowledge_minutes
    )
    report_due = add_hours(at, minutes / 60)
    if case.resolve_due and case.resolve_due > report_due:
        return report_due, case.resolve_due
    if count_days is None:
        part = add_working_days(at, DEFAULT_PART_DAYS, calendar_for_code(case.territory_code))
    else:
        part = count_days(at, DEFAULT_PART_DAYS)
    return report_due, part.due_at


@transaction.atomic
def report_to_case(actor: Any, summons: Summons, note: str = "") -> Summons:
    """报到: the summoned department acknowledges and joins (once)."""
    locked = _lock_for_department(actor, summons)
    if locked.case.node in FINAL_NODES:
        raise ValidationError(_("The case is already finished."), code="final")
    if locked.reported_at is not None:
        raise ValidationError(_("This department has already reported."), code="reported")
    before = snapshot(locked)
    locked.reported_at, locked.reported_by = timezone.now(), _user(actor)
    locked.save()
    log_action(actor, "cases.summons.report", locked, before=before, after=snapshot(locked))
    record_event(
        actor,
        locked.case,
        "summons_report",
        locked.case.node,
        locked.case.node,
        note,
        _summons_data(locked),
    )
    _after_commit(locked, "report", actor)
    return locked


@transaction.atomic
def record_part(actor: Any, summons: Summons, part: str) -> Summons:
    """The department records what it did; recording the part also counts as reporting."""
    if not part.strip():
        raise ValidationError(_("Describe what the department did."), code="part")
    locked = _lock_for_department(actor, summons)
    if locked.case.node in FINAL_NODES:
        raise ValidationError(_("The case is already finished."), code="final")
    if locked.part_recorded_at is not None:
        raise ValidationError(_("The department's part is already recorded."), code="recorded")
    before = snapshot(locked)
    now = timezone.now()
    if locked.reported_at is None:
        locked.reported_at, locked.reported_by = now, _user(actor)
    locked.part, locked.part_recorded_at = part.strip(), now
    locked.save()
    log_action(actor, "cases.summons.part", locked, before=before, after=snapshot(locked))
    record_event(
        actor,
        locked.case,
        "summons_part",
        locked.case.node,
        locked.case.node,
        part.strip(),
        _summons_data(locked),
    )
    _after_commit(locked, "part", actor)
    return locked


def acts_for_department(actor: Any, department_id: int) -> bool:
    if (decided := decided_without_grants(actor)) is not None:
        return decided
    return department_id in actor.scope_for({Role.DEPARTMENT_STAFF}).department_ids


def _lock_for_department(actor: Any, summons: Summons) -> Summons:
    with unscoped():
        locked = (
            Summons.objects.select_for_update(of=("self",))
            .select_related("case", "department")
            .get(pk=summons.pk)
        )
    if not acts_for_department(actor, locked.department_id):
        raise PermissionDenied(_("Only staff of the summoned department may answer."))
    return locked


def _summons_data(summons: Summons) -> dict[str, Any]:
    return {
        "summons": summons.pk,
        "department": summons.department_id,
        "late": summons.reported_late or summons.part_late,
    }


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _after_commit(summons: Summons, what: str, actor: Any) -> None:
    from jiedao.cases import notifications

    summons_id, actor_id = summons.pk, getattr(actor, "pk", None)
    transaction.on_commit(lambda: notifications.summons_changed(summons_id, what, actor_id))

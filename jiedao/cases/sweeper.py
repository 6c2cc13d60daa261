"""The sweeper: every five minutes, escalate what is late (docs/notifications.md).

(a) cases dispatched and not acknowledged by ``acknowledge_due``;
(b) cases past ``resolve_due``, not final and not handled yet;
(c) summonses (吹哨) not reported (报到) by ``report_due``, parts not recorded by ``part_due``.

It looks at state, not at "what happened since the last run", so a sweeper that was down for
hours catches up on everything overdue at its next run. Each escalation happens once, even with
two sweepers at once: a row is claimed with a conditional UPDATE (``… WHERE <still late and not
yet flagged>``) and only the sweeper whose UPDATE changed the row writes the event, the audit
entry and the notifications, in the same transaction. The database's row lock decides between
two concurrent UPDATEs; the loser's WHERE no longer matches.

A flag counts for the deadline it was raised against: a flag older than the current deadline
(the case was dispatched again, reopened or given an extension; a summons deadline was moved)
no longer stops a new escalation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from jiedao.audit.services import log_action
from jiedao.cases import notifications
from jiedao.cases.models import FINAL_NODES, Case, Node, Summons
from jiedao.cases.services import record_event
from jiedao.core.scopes import unscoped
from jiedao.jobs.base import job, periodic

logger = logging.getLogger("jiedao.cases")

EVERY = timedelta(minutes=5)
BATCH_SIZE = 200
# Handled (or further): the handler has done its part; verification is someone else's to-do.
_DONE_HANDLING = sorted({*FINAL_NODES, Node.HANDLED, Node.VERIFIED})


def _not_flagged_for(flag: str, due: str) -> Q:
    return Q(**{f"{flag}__isnull": True}) | Q(**{f"{flag}__lt": F(due)})


def unacknowledged(now: datetime) -> Q:
    return Q(
        node=Node.DISPATCHED, acknowledged_at__isnull=True, acknowledge_due__lt=now
    ) & _not_flagged_for("acknowledge_escalated_at", "acknowledge_due")


def overdue(now: datetime) -> Q:
    return (
        Q(resolve_due__lt=now, handled_at__isnull=True)
        & ~Q(node__in=_DONE_HANDLING)
        & _not_flagged_for("overdue_escalated_at", "resolve_due")
    )


# A finished case no longer waits for anyone's 报到 or part.
_CASE_OPEN = ~Q(case__node__in=sorted(FINAL_NODES))


def report_late(now: datetime) -> Q:
    return (
        Q(reported_at__isnull=True, report_due__lt=now)
        & _CASE_OPEN
        & _not_flagged_for("report_flagged_at", "report_due")
    )


def part_late(now: datetime) -> Q:
    return (
        Q(part_recorded_at__isnull=True, part_due__lt=now)
        & _CASE_OPEN
        & _not_flagged_for("part_flagged_at", "part_due")
    )


@dataclass(frozen=True)
class Sweep:
    name: str
    model: type[models.Model]
    late: Callable[[datetime], Q]
    flag: str
    act: Callable[[Any, datetime], None]


@periodic(every=EVERY, name="cases.sweeper")
@job(max_attempts=1)  # the next slot, five minutes later, is the retry
def sweep() -> dict[str, int]:
    return run_sweep()


def run_sweep(now: datetime | None = None) -> dict[str, int]:
    """Escalate everything late at ``now``; returns how many of each were escalated here."""
    now = now or timezone.now()
    with unscoped():
        return {sweep.name: _run(sweep, now) for sweep in SWEEPS}


def _run(sweep: Sweep, now: datetime) -> int:
    """Walk the late rows in batches by primary key (every row is looked at once per run, even
    one whose escalation fails) and escalate each one this sweeper wins."""
    done, after = 0, 0
    manager = sweep.model._base_manager
    while True:
        batch = list(
            manager.filter(sweep.late(now), pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH_SIZE]
        )
        if not batch:
            return done
        after = batch[-1]
        for pk in batch:
            try:
                done += _claim_and_act(sweep, pk, now)
            except Exception:  # one broken row must not stop the sweep; the next run retries it
                logger.exception("sweeper: %s of %s %s failed", sweep.name, sweep.model, pk)


def _claim_and_act(sweep: Sweep, pk: int, now: datetime) -> bool:
    manager = sweep.model._base_manager
    with transaction.atomic():
        won = manager.filter(sweep.late(now), pk=pk).update(**{sweep.flag: now})
        if not won:
            return False  # another sweeper was first, or the row is no longer late
        sweep.act(manager.get(pk=pk), now)
    return True


# --- What an escalation writes --------------------------------------------------------------


def _escalate_case(action: str, due_field: str) -> Callable[[Case, datetime], None]:
    def act(case: Case, now: datetime) -> None:
        due = getattr(case, due_field)
        _event(case, action, {"due": due.isoformat() if due else None})
        log_action(
            None,
            f"cases.case.{action}",
            case,
            after={"node": case.node, due_field: due, "escalated_at": now},
        )
        case_id = case.pk
        transaction.on_commit(lambda: notifications.case_changed(case_id, action, None))

    return act


def _flag_summons(what: str, due_field: str) -> Callable[[Summons, datetime], None]:
    def act(summons: Summons, now: datetime) -> None:
        due = getattr(summons, due_field)
        case = Case._base_manager.get(pk=summons.case_id)
        data = {"summons": summons.pk, "department": summons.department_id, "missing": what}
        _event(case, "summons_late", {**data, "due": due.isoformat()})
        log_action(
            None,
            f"cases.summons.{what}_late",
            summons,
            after={**data, due_field: due, "flagged_at": now},
        )
        summons_id = summons.pk
        transaction.on_commit(
            lambda: notifications.summons_changed(summons_id, f"{what}_late", None)
        )

    return act


def _event(case: Case, action: str, data: dict[str, Any]) -> None:
    record_event(None, case, action, case.node, case.node, "", data)


SWEEPS: tuple[Sweep, ...] = (
    Sweep(
        "unacknowledged",
        Case,
        unacknowledged,
        "acknowledge_escalated_at",
        _escalate_case("escalate_unacknowledged", "acknowledge_due"),
    ),
    Sweep(
        "overdue",
        Case,
        overdue,
        "overdue_escalated_at",
        _escalate_case("escalate_overdue", "resolve_due"),
    ),
    Sweep(
        "summons_report_late",
        Summons,
        report_late,
        "report_flagged_at",
        _flag_summons("report", "report_due"),
    ),
    Sweep(
        "summons_part_late",
        Summons,
        part_late,
        "part_flagged_at",
        _flag_summons("part", "part_due"),
    ),
)

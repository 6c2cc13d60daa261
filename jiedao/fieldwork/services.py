"""Field-work writes: patrols and their track, findings on patrol, household visits.

Every write checks who acts (``rules``), runs in one transaction and leaves an audit entry.

Idempotency: a form from the phone carries a key (``SentForm.key``, 8–64 letters, digits, ``-``
or ``_``, made by the page). The first arrival records the form and its key in the same
transaction; a resend (the phone did not get the answer, or the outbox sent it again) finds the
key and returns the first result without writing anything. Two arrivals at the same time are
settled by the unique constraint on (user, key): the loser rolls back and returns the winner's
result. Services called without a key (the demo, other programs) have no such protection.

Times from the phone (``at``: when the worker tapped, which may be long before a form queued
offline reaches the server) are used when they fall within the last ``MAX_FORM_AGE``; otherwise
the server's clock is. Track fixes carry their own times (see ``track``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.audit.services import log_action
from jiedao.cases.coords import CRS
from jiedao.cases.models import Case, Channel
from jiedao.core.scopes import unscoped
from jiedao.fieldwork import selectors, track
from jiedao.fieldwork.models import Patrol, PatrolFinding, SentForm, TrackPoint
from jiedao.fieldwork.rules import NOT_YOURS, is_worker, require_supervisor, require_worker
from jiedao.registry import care
from jiedao.registry.models import Household, Visit
from jiedao.territory.models import Grid

MAX_BATCH = 500  # fixes in one upload (the phone sends every ~20 s: a few dozen)
MAX_POINTS = 20_000  # fixes in one patrol (one every 2 s for 11 hours)
MAX_NOTE = care.MAX_VISIT_NOTE  # a patrol's note and a visit's alike
MAX_FORM_AGE = timedelta(hours=12)
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")

START, END, VISIT = "patrol.start", "patrol.end", "visit"
# A supervisor closing a patrol its worker left open ends it at its last track point, at most
# this long after the start (the attendance summary counts no more of one patrol either).
MAX_CLOSED_PATROL = timedelta(hours=12)


# --- Helpers --------------------------------------------------------------------------------


def clean_key(key: str | None) -> str:
    key = (key or "").strip()
    if key and not KEY_PATTERN.fullmatch(key):
        raise ValidationError(
            _("The form's key is not valid: reload the page and send it again."), code="key"
        )
    return key


def _sent(actor: Any, key: str, kind: str) -> SentForm | None:
    if not key:
        return None
    found = SentForm.objects.filter(user=actor, key=key).first()
    if found is not None and found.kind != kind:
        raise ValidationError(
            _("This form's key was already used for another form: reload the page."),
            code="key_reused",
        )
    return found


def _remember(actor: Any, key: str, kind: str, object_id: int) -> None:
    if key:
        SentForm.objects.create(user=actor, key=key, kind=kind, object_id=object_id)


def client_time(at: Any, now: datetime | None = None) -> datetime:
    """The phone's time of the form (an aware datetime or ISO text) when it lies within the last
    ``MAX_FORM_AGE`` (and not ahead of the server by more than the clock skew); else now."""
    now = now or timezone.now()
    moment = at
    if isinstance(at, str):
        try:
            moment = track.parse_time(at)
        except track.BadFix:
            return now
    if not isinstance(moment, datetime) or timezone.is_naive(moment):
        return now
    if now - MAX_FORM_AGE <= moment <= now + track.CLOCK_SKEW:
        return min(moment, now)
    return now


def _facts(patrol: Patrol) -> dict[str, Any]:
    return {
        "worker": patrol.worker_id,
        "grid": patrol.grid_id,
        "started_at": patrol.started_at.isoformat(),
        "ended_at": patrol.ended_at.isoformat() if patrol.ended_at else None,
        "distance_m": patrol.distance_m,
        "point_count": patrol.point_count,
        "flagged_count": patrol.flagged_count,
    }


def _require_own(actor: Any, patrol: Patrol) -> None:
    """Only the patrol's own worker, still a grid worker in its grid, records on it."""
    _require_owner(actor, patrol)
    require_worker(actor, patrol)


def _require_owner(actor: Any, patrol: Patrol) -> None:
    if getattr(actor, "pk", None) != patrol.worker_id:
        raise PermissionDenied(NOT_YOURS)


def _patrol(pk: int) -> Patrol:
    with unscoped():
        return Patrol.objects.get(pk=pk)


# --- Patrols --------------------------------------------------------------------------------


def start_patrol(actor: Any, grid: Grid, key: str = "", *, at: Any = None) -> Patrol:
    """Start a patrol of ``actor`` (a grid worker of ``grid``). A worker walks one patrol at a
    time: a second start without ending the first is refused (a resend of the same start
    returns the first patrol). A start queued on the phone (``at`` in the past) never reaches
    back before the end of the worker's previous patrol, so two patrols never overlap."""
    require_worker(actor, grid)
    key = clean_key(key)
    if (earlier := _sent(actor, key, START)) is not None:
        return _patrol(earlier.object_id)
    if selectors.open_patrol(actor) is not None:
        return _first_start(actor, key)
    started_at = client_time(at)
    if (previous_end := _last_end(actor)) is not None:
        started_at = max(started_at, previous_end)
    patrol = Patrol(worker=actor, grid=grid, started_at=started_at)
    try:
        with transaction.atomic():
            patrol.save(force_insert=True)
            _remember(actor, key, START, patrol.pk)
            log_action(actor, "fieldwork.patrol.start", patrol, after=_facts(patrol))
    except IntegrityError:
        if _sent(actor, key, START) is not None or selectors.open_patrol(actor) is not None:
            return _first_start(actor, key)
        raise
    return patrol


def _first_start(actor: Any, key: str) -> Patrol:
    """The worker is on a patrol already: the one this same start made, when a resend of it won
    the race (it committed after our first look), else a refusal."""
    if (earlier := _sent(actor, key, START)) is not None:
        return _patrol(earlier.object_id)
    raise _already_on_patrol()


def _last_end(worker: Any) -> datetime | None:
    """When the worker's latest patrol ended (None: no patrol yet)."""
    with unscoped():
        return (
            Patrol.objects.filter(worker=worker, ended_at__isnull=False)
            .order_by("-ended_at")
            .values_list("ended_at", flat=True)
            .first()
        )


def _already_on_patrol() -> ValidationError:
    return ValidationError(
        _("You are already on a patrol: end it before you start another."), code="open_patrol"
    )


def end_patrol(
    actor: Any, patrol: Patrol, note: str = "", key: str = "", *, at: Any = None
) -> Patrol:
    """End the worker's patrol with an optional note. Ending twice with the same key returns
    the patrol; ending a patrol that has ended already (another key) is refused. The patrol's
    own worker may always end it, also after moving to another grid (or out of grid work)."""
    _require_owner(actor, patrol)
    key = clean_key(key)
    note = care.clean_note(note, MAX_NOTE)
    if (earlier := _sent(actor, key, END)) is not None:
        return _patrol(earlier.object_id)
    try:
        with transaction.atomic(), unscoped():
            patrol = Patrol.objects.select_for_update().get(pk=patrol.pk)
            if patrol.ended_at is not None:
                raise ValidationError(_("This patrol has already ended."), code="ended")
            before = _facts(patrol)
            patrol.ended_at = max(patrol.started_at, client_time(at))
            patrol.note = note
            patrol.save(update_fields=["ended_at", "note"])
            _remember(actor, key, END, patrol.pk)
            log_action(actor, "fieldwork.patrol.end", patrol, before=before, after=_facts(patrol))
    except (IntegrityError, ValidationError):
        if (earlier := _sent(actor, key, END)) is not None:
            return _patrol(earlier.object_id)
        raise
    return patrol


def close_patrol(actor: Any, patrol: Patrol) -> Patrol:
    """A supervisor of the patrol's territory ends a patrol its worker left open (the worker
    forgot, lost the phone, or cannot end it any more). It ends at its last track point, or at
    its start when it has none, and never more than ``MAX_CLOSED_PATROL`` after the start: the
    supervisor was not there, so no time is added that the track does not show."""
    require_supervisor(actor, patrol)
    with transaction.atomic(), unscoped():
        patrol = Patrol.objects.select_for_update().get(pk=patrol.pk)
        if patrol.ended_at is not None:
            raise ValidationError(_("This patrol has already ended."), code="ended")
        before = _facts(patrol)
        last_fix = (
            TrackPoint.objects.filter(patrol=patrol)
            .order_by("-recorded_at")
            .values_list("recorded_at", flat=True)
            .first()
        )
        end = min(
            last_fix or patrol.started_at,
            patrol.started_at + MAX_CLOSED_PATROL,
            timezone.now(),  # a phone's clock may run a little ahead
        )
        patrol.ended_at = max(patrol.started_at, end)
        patrol.save(update_fields=["ended_at"])
        log_action(
            actor,
            "fieldwork.patrol.close",
            patrol,
            before=before,
            after={**_facts(patrol), "closed_by": actor.pk},
        )
    return patrol


# --- The track ------------------------------------------------------------------------------


@dataclass
class TrackResult:
    """What became of one upload: ``rejected`` lists ``{"index", "code", "message"}`` per fix
    that cannot be stored (resending it will not help); the figures are the whole patrol's."""

    accepted: int = 0
    duplicate: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    point_count: int = 0
    flagged_count: int = 0
    distance_m: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "point_count": self.point_count,
            "flagged_count": self.flagged_count,
            "distance_m": self.distance_m,
        }


def record_track(actor: Any, patrol: Patrol, points: Any, crs: str = CRS.WGS84) -> TrackResult:
    """Store a batch of GPS fixes ``[{"t": ISO time with zone, "lat", "lng", "accuracy"}]`` of
    the worker's own patrol, then judge the whole track again (``track.assess``).

    * Each fix is checked on its own: good ones are stored, bad ones are listed with the reason
      (a batch with some bad fixes still stores the good ones; nothing at all is stored only
      when the request itself is malformed: ``ValidationError`` for the whole call).
    * A fix with the time of a stored one (or of another in the batch) is a duplicate: counted,
      never stored twice, never an error. Batches may arrive in any order.
    """
    _require_own(actor, patrol)
    if not isinstance(points, list):
        raise ValidationError(_("Send the points as a list."), code="points")
    if len(points) > MAX_BATCH:
        raise ValidationError(
            _("Send at most %(n)d points at a time.") % {"n": MAX_BATCH}, code="batch_size"
        )
    if not isinstance(crs, str) or crs not in {c.value for c in CRS}:
        raise ValidationError(_("Unknown coordinate system: %(crs)s.") % {"crs": crs}, code="crs")
    result = TrackResult()
    with transaction.atomic(), unscoped():
        # One upload of a patrol at a time: the counts below stay exact under concurrency.
        patrol = Patrol.objects.select_for_update().get(pk=patrol.pk)
        fixes = _checked(points, patrol, crs, result)
        stored = set(
            TrackPoint.objects.filter(patrol=patrol, recorded_at__in=list(fixes)).values_list(
                "recorded_at", flat=True
            )
        )
        fresh = [(fix, index) for at, (fix, index) in sorted(fixes.items()) if at not in stored]
        result.duplicate += len(fixes) - len(fresh)
        room = max(0, MAX_POINTS - patrol.point_count - patrol.flagged_count)
        result.rejected += [_full(index) for _fix, index in fresh[room:]]
        fresh = fresh[:room]
        TrackPoint.objects.bulk_create(
            [
                TrackPoint(
                    patrol=patrol,
                    recorded_at=fix.at,
                    lng=fix.lng,
                    lat=fix.lat,
                    accuracy_m=fix.accuracy,
                    territory_code=patrol.territory_code,
                )
                for fix, _index in fresh
            ],
            ignore_conflicts=True,  # belt and braces: the row lock already keeps them apart
        )
        result.accepted = len(fresh)
        if fresh:
            before = _facts(patrol)
            reassess(patrol)
            log_action(
                actor,
                "fieldwork.track.upload",
                patrol,
                before=before,
                after={
                    **_facts(patrol),
                    "accepted": result.accepted,
                    "duplicate": result.duplicate,
                    "rejected": len(result.rejected),
                },
            )
    result.rejected.sort(key=lambda item: item["index"])
    result.point_count = patrol.point_count
    result.flagged_count = patrol.flagged_count
    result.distance_m = patrol.distance_m
    return result


def _checked(
    points: list[Any], patrol: Patrol, crs: str, result: TrackResult
) -> dict[datetime, tuple[track.Fix, int]]:
    """The batch's good fixes by time, each with its index in the batch (one per time:
    ``track.best_of``); bad ones and same-time repeats go into ``result``."""
    now = timezone.now()
    by_time: dict[datetime, list[tuple[track.Fix, int]]] = {}
    for index, raw in enumerate(points):
        try:
            fix = track.parse_fix(
                raw, crs=crs, now=now, started_at=patrol.started_at, ended_at=patrol.ended_at
            )
        except track.BadFix as bad:
            result.rejected.append({"index": index, "code": bad.code, "message": bad.message})
            continue
        by_time.setdefault(fix.at, []).append((fix, index))
    result.duplicate = sum(len(same) - 1 for same in by_time.values())
    kept = {}
    for at, same in by_time.items():
        best = track.best_of([fix for fix, _index in same])
        kept[at] = (best, next(index for fix, index in same if fix == best))
    return kept


def _full(index: int) -> dict[str, Any]:
    return {
        "index": index,
        "code": "patrol_full",
        "message": _("The patrol has %(n)d points already: end it and start a new one.")
        % {"n": MAX_POINTS},
    }


def reassess(patrol: Patrol) -> Patrol:
    """Flag the patrol's fixes again and recompute distance and counts from the whole track
    (call inside a transaction holding the patrol's row)."""
    rows = list(
        TrackPoint.all_objects.filter(patrol=patrol)
        .order_by("recorded_at")
        .values_list("pk", "recorded_at", "lng", "lat", "accuracy_m", "flag")
    )
    fixes = [track.Fix(at, lng, lat, acc) for _pk, at, lng, lat, acc, _flag in rows]
    judged = track.assess(fixes)
    changed = [
        TrackPoint(pk=row[0], flag=flag)
        for row, flag in zip(rows, judged.flags, strict=True)
        if row[5] != flag
    ]
    if changed:
        TrackPoint.all_objects.bulk_update(changed, ["flag"], batch_size=500)
    patrol.distance_m = round(judged.distance_m)
    patrol.point_count = judged.used
    patrol.flagged_count = judged.flagged
    patrol.save(update_fields=["distance_m", "point_count", "flagged_count"])
    return patrol


# --- Findings -------------------------------------------------------------------------------


def link_finding(actor: Any, case: Case, at: Any = None) -> PatrolFinding | None:
    """A case the grid worker reported on patrol (channel: patrol) joins the patrol that was
    open when they reported it (``at``: the phone's time of the form, else the case's arrival),
    when the case lies in the community of the patrol's grid: a finding just over the grid's
    edge belongs to the patrol, one in another community or street does not. None when there
    was no such patrol. Linking again changes nothing."""
    if not is_worker(actor) or case.reporter_id != actor.pk or case.channel != Channel.PATROL:
        return None
    moment = client_time(at) if at else case.created_at
    with unscoped():
        existing = PatrolFinding.objects.filter(case=case).select_related("patrol").first()
        if existing is not None:
            return existing
        patrol = (
            Patrol.objects.filter(worker=actor, started_at__lte=moment + track.START_SLACK)
            .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=moment - track.END_SLACK))
            .select_related("grid__community")
            .order_by("-started_at")
            .first()
        )
        if patrol is None or not _in_community(case, patrol):
            return None
        try:
            with transaction.atomic():
                finding = PatrolFinding(patrol=patrol, case=case)
                finding.save(force_insert=True)
                log_action(
                    actor,
                    "fieldwork.finding.link",
                    finding,
                    after={"patrol": patrol.pk, "case": case.pk},
                )
        except IntegrityError:  # linked at the same moment by a resend
            return PatrolFinding.objects.filter(case=case).first()
    return finding


def _in_community(case: Case, patrol: Patrol) -> bool:
    community = patrol.grid.community.code
    return bool(community) and (case.territory_code or "").startswith(community)


# --- Household visits -----------------------------------------------------------------------


def record_household_visit(
    actor: Any, household: Household, note: str, key: str = "", *, at: Any = None
) -> Visit:
    """A routine visit (走访) by a grid worker to a household of their grid, with a note, in the
    registry's visit log (``care.record_visit``, which also checks the note's length). A resend
    with the same key returns the first visit."""
    require_worker(actor, household)
    key = clean_key(key)
    if not (note or "").strip():
        raise ValidationError({"note": _("Write down what you found on the visit.")})
    if (earlier := _sent(actor, key, VISIT)) is not None:
        return _visit(earlier.object_id)
    try:
        with transaction.atomic():
            visit = care.record_visit(
                actor,
                household=household,
                kind=Visit.Kind.ROUTINE,
                note=note,
                visited_at=client_time(at),
            )
            _remember(actor, key, VISIT, visit.pk)
    except IntegrityError:
        if (earlier := _sent(actor, key, VISIT)) is not None:
            return _visit(earlier.object_id)
        raise
    return visit


def _visit(pk: int) -> Visit:
    with unscoped():
        return Visit.objects.get(pk=pk)


# --- Past patrols (demo, imports) -----------------------------------------------------------


def import_patrol(
    worker: Any,
    grid: Grid,
    points: list[dict[str, Any]],
    *,
    started_at: datetime,
    ended_at: datetime,
    note: str = "",
    crs: str = CRS.WGS84,
) -> tuple[Patrol, TrackResult]:
    """A patrol that already happened, with its track, written by the system (the demo world,
    an import from another system): no key, no actor checks beyond ``worker`` being a grid
    worker of ``grid``, audited with no actor. Fixes are checked as in ``record_track``."""
    if not is_worker(worker, grid):
        raise ValidationError(_("%(user)s is not a grid worker of this grid.") % {"user": worker})
    if ended_at < started_at:
        raise ValidationError(_("A patrol cannot end before it starts."), code="ended")
    result = TrackResult()
    with transaction.atomic(), unscoped():
        patrol = Patrol(
            worker=worker, grid=grid, started_at=started_at, ended_at=ended_at, note=note
        )
        patrol.save(force_insert=True)
        fixes = _checked(list(points), patrol, crs, result)
        TrackPoint.objects.bulk_create(
            [
                TrackPoint(
                    patrol=patrol,
                    recorded_at=fix.at,
                    lng=fix.lng,
                    lat=fix.lat,
                    accuracy_m=fix.accuracy,
                    territory_code=patrol.territory_code,
                )
                for _at, (fix, _index) in sorted(fixes.items())[:MAX_POINTS]
            ]
        )
        result.accepted = min(len(fixes), MAX_POINTS)
        reassess(patrol)
        log_action(None, "fieldwork.patrol.import", patrol, after=_facts(patrol))
    result.point_count, result.flagged_count = patrol.point_count, patrol.flagged_count
    result.distance_m = patrol.distance_m
    return patrol, result

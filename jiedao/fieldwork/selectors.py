"""Field-work reads, always under the reader's scope.

* A grid worker sees their own patrols (never a colleague's in the same grid) and households of
  their own grid.
* Supervisors (``rules.SUPERVISORS``) see every patrol in the territory of those grants:
  workstation staff their community's, street staff and leaders their street's, district
  administrators their district's, system administrators all.
* Residents, committee members and departments see none.
* A patrol's findings are cases: the patrol page shows a case's details only to a reader who
  may open the case (``cases.selectors.cases``); for the others, only its number.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from shapely.geometry import LineString

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.cases import selectors as case_selectors
from jiedao.cases.models import Case
from jiedao.core.geo import METRES_PER_DEGREE
from jiedao.core.scopes import Scope, unscoped
from jiedao.core.selectors import visible
from jiedao.fieldwork.models import Patrol, PatrolFinding, TrackPoint
from jiedao.fieldwork.rules import SUPERVISORS, WORKERS
from jiedao.registry.models import Household, Visit
from jiedao.territory.models import Grid, GridWorker
from jiedao.workdays.calendar import WorkCalendar, calendar_for_code, is_working_day, layer_codes

MAX_HOUSEHOLD_HITS = 20
# A patrol counts at most this long in the attendance summary: one left open by mistake (the
# worker forgot to end it) does not swell the hours.
MAX_PATROL_HOURS = 12
# The track on the patrol page is simplified (Douglas–Peucker) to within about 2 m: a long
# patrol has thousands of fixes, and all of them travel in one HTML attribute.
TRACK_TOLERANCE_DEG = 2.0 / METRES_PER_DEGREE


def _authenticated(actor: Any) -> bool:
    return bool(getattr(actor, "is_authenticated", False))


def supervised_scope(actor: Any) -> Scope:
    if not _authenticated(actor):
        return Scope.nothing()
    return actor.scope_for(SUPERVISORS)


def _is_grid_worker(actor: Any) -> bool:
    return _authenticated(actor) and actor.has_role(Role.GRID_WORKER)


# --- Patrols --------------------------------------------------------------------------------


def patrols(actor: Any) -> QuerySet[Patrol]:
    """Patrols the actor may see: their own (as a grid worker) and those in the territory they
    supervise."""
    with unscoped():
        rows = Patrol.objects.select_related("worker", "grid")
    scope = supervised_scope(actor)
    if scope.everything:
        return rows
    query = scope.q() if scope.prefixes else Q(pk__in=[])
    if _is_grid_worker(actor):
        query |= Q(worker_id=actor.pk)
    return rows.filter(query)


def patrol(actor: Any, pk: int) -> Patrol:
    """One patrol the actor may see, or ``Patrol.DoesNotExist``."""
    return patrols(actor).get(pk=pk)


def open_patrol(actor: Any) -> Patrol | None:
    """The grid worker's patrol under way, if any."""
    if not _is_grid_worker(actor):
        return None
    return patrols(actor).filter(worker_id=actor.pk, ended_at__isnull=True).first()


def own_patrol(actor: Any, pk: int) -> Patrol | None:
    """The actor's own patrol ``pk`` whatever their grants are now (a worker moved to another
    grid, or out of grid work, still ends the patrol they left open), else None."""
    if not _authenticated(actor):
        return None
    with unscoped():
        return Patrol.objects.select_related("worker", "grid").filter(pk=pk, worker=actor).first()


def _local_range(first: date, last: date) -> tuple[datetime, datetime]:
    """From 00:00 of ``first`` to 24:00 of ``last``, local time (Asia/Shanghai)."""
    start = timezone.make_aware(datetime.combine(first, time.min))
    end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min))
    return start, end


def patrol_list(
    actor: Any,
    *,
    worker: int | None = None,
    grid: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[Patrol]:
    """Patrols in scope, newest first, by worker id, grid code and local start dates."""
    rows = patrols(actor).annotate(findings_count=Count("findings"))
    if worker:
        rows = rows.filter(worker_id=worker)
    if grid:
        rows = rows.filter(grid__code=grid)
    if since:
        rows = rows.filter(started_at__gte=_local_range(since, since)[0])
    if until:
        rows = rows.filter(started_at__lt=_local_range(until, until)[1])
    return rows.order_by("-started_at", "-pk")


def track_of(patrol: Patrol) -> QuerySet[TrackPoint]:
    """The fixes of a patrol the caller already may see, in time order."""
    with unscoped():
        return TrackPoint.objects.filter(patrol=patrol).order_by("recorded_at")


@dataclass(frozen=True)
class Finding:
    """A finding of a patrol as one reader sees it: ``case`` is None when the reader may not
    open the case (a supervisor of the grid, the case since moved elsewhere): only its number
    is shown then."""

    case_id: int
    case: Case | None


def findings_of(patrol: Patrol, actor: Any) -> list[Finding]:
    """The findings of a patrol the caller already may see, oldest first; each case read
    through the reader's own case scope."""
    with unscoped():
        ids = list(
            PatrolFinding.objects.filter(patrol=patrol)
            .order_by("case__created_at", "pk")
            .values_list("case_id", flat=True)
        )
    readable = {case.pk: case for case in case_selectors.cases(actor).filter(pk__in=ids)}
    return [Finding(pk, readable.get(pk)) for pk in ids]


def _line(coordinates: list[list[float]]) -> list[list[float]]:
    """The track simplified to within ``TRACK_TOLERANCE_DEG``; first and last fix kept."""
    simple = LineString(coordinates).simplify(TRACK_TOLERANCE_DEG, preserve_topology=False)
    kept = [[x, y] for x, y in simple.coords]
    return kept if len(kept) >= 2 else [coordinates[0], coordinates[-1]]


def patrol_geojson(patrol: Patrol, actor: Any, finding_label: str = "") -> str:
    """The used fixes as a LineString (``role: self``, simplified to ~2 m) and the findings the
    reader may open as points (``role: child``, linked to their case), over the patrol's grid:
    the map of the patrol page. '' when there is no track and no finding to show."""
    coordinates = [
        [lng, lat] for lng, lat in track_of(patrol).filter(flag="").values_list("lng", "lat")
    ]
    features: list[dict[str, Any]] = []
    if len(coordinates) >= 2:
        geometry = {"type": "LineString", "coordinates": _line(coordinates)}
        features.append(_feature(geometry, str(patrol.grid), "self", ""))
    elif coordinates:
        features.append(_feature({"type": "Point", "coordinates": coordinates[0]}, "", "self", ""))
    for finding in findings_of(patrol, actor):
        case = finding.case
        if case is None or case.lng is None or case.lat is None:
            continue
        point = {"type": "Point", "coordinates": [case.lng, case.lat]}
        name = f"{finding_label} {case.pk} · {case.category.name}".strip()
        features.append(_feature(point, name, "child", case.get_absolute_url()))
    if not features:
        return ""
    if patrol.grid.boundary:  # the grid underneath: a track alone gives no sense of place
        features.insert(0, _feature(patrol.grid.boundary, "", "self", ""))
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def _feature(geometry: dict[str, Any], name: str, role: str, url: str) -> dict[str, Any]:
    properties = {"name": name, "role": role, "url": url}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


# --- Choices --------------------------------------------------------------------------------


def worker_grids(actor: Any) -> list[Grid]:
    """The grids the actor is a grid worker of (their active grants)."""
    if not _is_grid_worker(actor):
        return []
    return [
        g.grid
        for g in actor.active_grants
        if g.role == Role.GRID_WORKER and g.grid is not None and g.grid.retired_at is None
    ]


def grid_choices(actor: Any) -> QuerySet[Grid]:
    """Grids to filter patrols by: those supervised, and the worker's own."""
    scope = supervised_scope(actor)
    own = [g.code for g in worker_grids(actor)]
    with unscoped():
        rows = Grid.objects.all()
    if scope.everything:
        return rows.order_by("code")
    query = scope.q("code") if scope.prefixes else Q(pk__in=[])
    return rows.filter(query | Q(code__in=own)).order_by("code")


def workers(actor: Any) -> QuerySet[Any]:
    """The grid workers of the supervised territory and the actor themselves when they are
    one. A grid worker is someone with an active grid-worker grant: granted in the territory,
    or granted elsewhere and assigned to a grid here. Someone assigned to a grid without such a
    grant (a workstation clerk on the grid's roster) does no field work and is not listed."""
    user_model = get_user_model()
    scope = supervised_scope(actor)
    query = Q(pk__in=[])
    if scope.everything or scope.prefixes:
        all_grants = RoleGrant.objects.filter(
            role=Role.GRID_WORKER, revoked_at__isnull=True, grid__isnull=False
        )
        grants = all_grants if scope.everything else all_grants.filter(scope.q("grid__code"))
        assigned = visible(GridWorker, actor, scope).filter(until__isnull=True)
        query |= Q(pk__in=grants.values("user_id")) | (
            Q(pk__in=assigned.values("user_id")) & Q(pk__in=all_grants.values("user_id"))
        )
    if _is_grid_worker(actor):
        query |= Q(pk=actor.pk)
    return user_model.objects.filter(query).order_by("username")


# --- Households for a visit -----------------------------------------------------------------


def households_to_visit(actor: Any, q: str) -> QuerySet[Household]:
    """Households in the grid worker's own grids whose standard address contains ``q``."""
    rows = visible(Household, actor, actor.scope_for(WORKERS)).select_related(
        "dwelling__address", "dwelling__building"
    )
    term = " ".join(q.split())
    if not term:
        return rows.none()
    return rows.filter(dwelling__address__full_text__icontains=term).order_by(
        "dwelling__address__full_text", "kind", "pk"
    )[:MAX_HOUSEHOLD_HITS]


def household_to_visit(actor: Any, pk: int) -> Household:
    """One household of the grid worker's grids, or ``Household.DoesNotExist``."""
    return (
        visible(Household, actor, actor.scope_for(WORKERS))
        .select_related("dwelling__address", "dwelling__building")
        .get(pk=pk)
    )


# --- Today ----------------------------------------------------------------------------------


@dataclass
class Today:
    patrols: int = 0
    distance_m: int = 0
    findings: int = 0
    visits: int = 0

    @property
    def km(self) -> float:
        return round(self.distance_m / 1000, 1)


def today(actor: Any, day: date | None = None) -> Today:
    """The grid worker's own field work of one local day (today)."""
    if not _is_grid_worker(actor):
        return Today()
    day = day or timezone.localdate()
    start, end = _local_range(day, day)
    own = patrols(actor).filter(worker_id=actor.pk, started_at__gte=start, started_at__lt=end)
    figures = own.aggregate(n=Count("pk"), metres=Sum("distance_m"))
    with unscoped():
        findings = PatrolFinding.objects.filter(patrol__in=own.values("pk")).count()
        visits = Visit.objects.filter(
            visited_by=actor, visited_at__gte=start, visited_at__lt=end
        ).count()
    return Today(figures["n"] or 0, figures["metres"] or 0, findings, visits)


def field_work_today(actor: Any) -> int:
    """Patrols started and visits made today: the count on the grid worker's home tile."""
    figures = today(actor)
    return figures.patrols + figures.visits


def recent_patrols(actor: Any, limit: int = 5) -> list[Patrol]:
    if not _is_grid_worker(actor):
        return []
    return list(patrols(actor).filter(worker_id=actor.pk).order_by("-started_at", "-pk")[:limit])


# --- Attendance -----------------------------------------------------------------------------


@dataclass
class AttendanceRow:
    worker: Any
    grids: str
    working_days: int = 0  # working days of the month counted so far
    field_days: int = 0  # days with a patrol or a visit (rest days included)
    field_working_days: int = 0  # of them, working days
    patrols: int = 0
    hours: float = 0.0
    distance_m: int = 0
    findings: int = 0
    visits: int = 0

    @property
    def km(self) -> float:
        return round(self.distance_m / 1000, 1)

    @property
    def rate(self) -> float | None:
        """Working days with field work ÷ working days counted (None when there are none)."""
        if not self.working_days:
            return None
        return round(100 * self.field_working_days / self.working_days, 1)


@dataclass
class Attendance:
    month: date  # the first day
    counted_until: date | None  # the last day counted (None: a month still to come)
    rows: list[AttendanceRow] = field(default_factory=list)
    fallback: bool = False  # the month's year has no holiday calendar: counted Monday–Friday


def month_days(month: date, today: date) -> list[date]:
    """The days of ``month`` up to and including ``today`` (all of them for a past month)."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    last = min(following - timedelta(days=1), today)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def attendance(actor: Any, month: date, today: date | None = None) -> Attendance:
    """Per grid worker the actor may see, for one month: working days (the Chinese working-day
    calendar of the worker's street, counted up to today in the current month), days with field
    work (a patrol started or a household visited, local dates), patrols, hours on patrol (each
    at most ``MAX_PATROL_HOURS``; one under way counts until now), km walked, findings, visits,
    and the attendance rate = working days with field work ÷ working days counted. Patrols of
    one worker that overlap in time count their hours once."""
    today = today or timezone.localdate()
    first = month.replace(day=1)
    days = month_days(first, today)
    report = Attendance(first, days[-1] if days else None)
    people = list(workers(actor))
    if not people:
        return report
    ids = [person.pk for person in people]
    grids = _grids_by_worker(ids)
    following = (first + timedelta(days=32)).replace(day=1)
    start, end = _local_range(first, following - timedelta(days=1))
    now = timezone.now()
    worked: dict[int, set[date]] = defaultdict(set)
    rows = {
        person.pk: AttendanceRow(
            person, "、".join(name for _code, name in grids.get(person.pk, []))
        )
        for person in people
    }
    month_patrols = patrols(actor).filter(
        worker_id__in=ids, started_at__gte=start, started_at__lt=end
    )
    spans: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for worker_id, started, ended, metres in month_patrols.values_list(
        "worker_id", "started_at", "ended_at", "distance_m"
    ):
        row = rows[worker_id]
        row.patrols += 1
        row.distance_m += metres
        stop = min(ended or now, started + timedelta(hours=MAX_PATROL_HOURS))
        spans[worker_id].append((started, max(started, stop)))
        worked[worker_id].add(timezone.localtime(started).date())
    for worker_id, worker_spans in spans.items():
        rows[worker_id].hours = _merged_hours(worker_spans)
    with unscoped():
        findings = (
            PatrolFinding.objects.filter(patrol__in=month_patrols.values("pk"))
            .values("patrol__worker_id")
            .annotate(n=Count("pk"))
        )
    for item in findings:
        rows[item["patrol__worker_id"]].findings = item["n"]
    month_visits = visible(Visit, actor).filter(
        visited_by_id__in=ids, visited_at__gte=start, visited_at__lt=end
    )
    for worker_id, visited in month_visits.values_list("visited_by_id", "visited_at"):
        rows[worker_id].visits += 1
        worked[worker_id].add(timezone.localtime(visited).date())
    counted = set(days)
    calendars: dict[tuple[str, ...], WorkCalendar] = {}
    for worker_id, row in rows.items():
        codes = grids.get(worker_id) or [("", "")]
        calendar = _calendar(codes[0][0] or _fallback_code(actor), calendars)
        working = {day for day in days if is_working_day(day, calendar)}
        row.working_days = len(working)
        mine = worked[worker_id] & counted
        row.field_days = len(mine)
        row.field_working_days = len(mine & working)
        row.hours = round(row.hours, 1)
        report.fallback = report.fallback or calendar.is_fallback_year(first.year)
    report.rows = sorted(rows.values(), key=lambda r: (r.grids, str(r.worker)))
    return report


def _merged_hours(spans: list[tuple[datetime, datetime]]) -> float:
    """Hours covered by the spans, a stretch covered by two of them counted once."""
    total = timedelta()
    current: tuple[datetime, datetime] | None = None
    for start, stop in sorted(spans):
        if current is not None and start <= current[1]:
            current = (current[0], max(current[1], stop))
            continue
        if current is not None:
            total += current[1] - current[0]
        current = (start, stop)
    if current is not None:
        total += current[1] - current[0]
    return total.total_seconds() / 3600


def _calendar(code: str, known: dict[tuple[str, ...], WorkCalendar]) -> WorkCalendar:
    """The working-day calendar of a place, looked up once per district and street in one
    summary (``calendar_for_code`` asks the database each time)."""
    layers = layer_codes(code)
    if layers not in known:
        known[layers] = calendar_for_code(code)
    return known[layers]


def _grids_by_worker(ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """Each worker's grids (code, name): active grid-worker grants, then assignments."""
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    grants = RoleGrant.objects.filter(
        user_id__in=ids, role=Role.GRID_WORKER, revoked_at__isnull=True, grid__isnull=False
    ).values_list("user_id", "grid__code", "grid__name")
    with unscoped():
        assigned = GridWorker.objects.filter(user_id__in=ids, until__isnull=True).values_list(
            "user_id", "grid__code", "grid__name"
        )
    for user_id, code, name in [*sorted(grants), *sorted(assigned)]:
        if (code, name) not in found[user_id]:
            found[user_id].append((code, name))
    return found


def _fallback_code(actor: Any) -> str:
    """Whose calendar to use for a worker with no grid: the actor's first grant's place."""
    return next((g.node_code for g in getattr(actor, "active_grants", []) if g.node_code), "")

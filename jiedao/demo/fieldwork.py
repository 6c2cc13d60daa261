"""Two months of grid workers' patrols (巡查) for the demo street, with their GPS tracks.

Every current grid-worker assignment (``GridWorker``, see demo/grids.py) walks its grid on most
working days of the last ``WINDOW_DAYS`` days (the street's working-day calendar; full-time
workers miss about one day in ten, part-time ones half): one round of one to two hours, in the
morning or the afternoon. Each round is a track of fixes every ~30 s, walking at about 1.2 m/s
(with pauses: talking to a shopkeeper, checking a fire lane) along straight legs between random
points of the grid, shrunk by a few metres so the GPS noise stays inside. Demo grids are convex,
so every leg stays inside too. ``distance_m`` is the haversine length of the stored fixes and
``point_count`` their number, as the field-work services keep them.

The demo's patrol cases (channel 巡查, reported by the grid worker) are the findings: on the day
of such a case its reporter's round is placed around the moment the case came in, and the case
is linked to the round (``PatrolFinding``). Every round has ended (no patrol is left open, also
not today's: a round that would end after "now" is left out).

Rows are written in bulk (patrols with their ids chosen here, track points as plain multi-row
INSERTs, see demo/cases.py), so ``save()`` does not run: ``territory_code`` is set here. To keep
large worlds fast the number of fixes per round is capped (``points_cap``): at scale 10 a round
has about 24 fixes, several minutes apart, the same walk sampled more sparsely.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import shapely
from django.db import connection
from django.db.models import Max, Model
from django.utils import timezone
from shapely.geometry.base import BaseGeometry

from jiedao.cases.models import Case, Channel
from jiedao.core import geo
from jiedao.core.scopes import unscoped
from jiedao.demo.cases import insert_objects, insert_rows, reset_sequences
from jiedao.fieldwork.models import Patrol, PatrolFinding, TrackPoint
from jiedao.territory.models import GridWorker, Street
from jiedao.workdays.calendar import SHANGHAI, calendar_for_code, is_working_day

WINDOW_DAYS = 61  # about two months back from today
INTERVAL_S = 30  # a fix every ~30 s
MAX_POINTS = 240  # at scale 1: two hours of fixes every 30 s
MIN_POINTS = 24
MINUTES = (60, 120)  # a round takes one to two hours
WALK_MPS = (1.2, 0.15)  # walking speed: mean and spread (m/s)
PAUSE_SHARE = 0.08  # fixes taken while standing (a talk, a look at something)
NOISE_M = 2.0  # GPS noise of the fixes (standard deviation, metres)
INSET_M = 10.0  # the walk keeps this far inside the grid's boundary
MISSED: dict[str, float] = {GridWorker.Kind.FULL_TIME: 0.1, GridWorker.Kind.PART_TIME: 0.5}
AFTERNOON_SHARE = 0.3  # rounds without a finding that are walked after lunch
POINT_BATCH = 50_000
EARTH_RADIUS_M = geo.EARTH_RADIUS_M  # as jiedao.core.geo.haversine_m
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
NOTES = ("", "", "", "例行巡查，未见异常", "检查消防通道", "走访沿街商户", "查看垃圾分类")
NOTE_FOUND = "巡查发现问题，已上报"


def points_cap(scale: float) -> int:
    """Fixes per round at a demo scale: every 30 s up to scale 1, sparser beyond."""
    return max(MIN_POINTS, round(MAX_POINTS / max(1.0, scale)))


def haversine_track_m(lngs: np.ndarray, lats: np.ndarray) -> float:
    """Length of a track in metres: the haversine distances between consecutive fixes."""
    if len(lngs) < 2:
        return 0.0
    lam, phi = np.radians(lngs), np.radians(lats)
    d_phi, d_lam = np.diff(phi), np.diff(lam)
    a = np.sin(d_phi / 2) ** 2 + np.cos(phi[:-1]) * np.cos(phi[1:]) * np.sin(d_lam / 2) ** 2
    return float(np.sum(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, a)))))


@dataclass(frozen=True)
class Track:
    seconds: np.ndarray  # after the start, strictly increasing whole seconds
    lngs: np.ndarray
    lats: np.ndarray
    accuracy: np.ndarray

    @property
    def distance_m(self) -> int:
        return round(haversine_track_m(self.lngs, self.lats))


class Walker:
    """Tracks inside one grid, in a local metric frame around its centre."""

    def __init__(self, boundary: dict[str, Any]) -> None:
        shape = geo.shape_from_geojson(boundary)
        centre = shape.centroid
        self.lng0, self.lat0 = centre.x, centre.y
        self.kx, self.ky = M_PER_DEG * math.cos(math.radians(self.lat0)), M_PER_DEG
        local = shapely.transform(shape, self._to_local)
        inset = local.buffer(-INSET_M)
        self.area: BaseGeometry = inset if inset.area > local.area * 0.2 else local
        shapely.prepare(self.area)
        self.bounds = self.area.bounds

    def _to_local(self, coords: np.ndarray) -> np.ndarray:
        return np.column_stack(
            ((coords[:, 0] - self.lng0) * self.kx, (coords[:, 1] - self.lat0) * self.ky)
        )

    def _inside(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` random points of the (inset) grid, by rejection from its bounding box."""
        min_x, min_y, max_x, max_y = self.bounds
        found: list[np.ndarray] = []
        total = 0
        while total < count:
            xs = rng.uniform(min_x, max_x, count * 2)
            ys = rng.uniform(min_y, max_y, count * 2)
            keep = shapely.contains_xy(self.area, xs, ys)
            found.append(np.column_stack((xs[keep], ys[keep])))
            total += int(keep.sum())
        return np.concatenate(found)[:count]

    def track(self, rng: np.random.Generator, duration_s: float, cap: int) -> Track:
        count = min(cap, int(duration_s // INTERVAL_S) + 1)
        step = duration_s / (count - 1)
        gaps = np.maximum(1, np.round(step + rng.uniform(-2, 2, count - 1)))
        seconds = np.concatenate(([0.0], np.cumsum(gaps)))
        speeds = np.clip(rng.normal(*WALK_MPS, count - 1), 0.7, 1.6)
        speeds[rng.random(count - 1) < PAUSE_SHARE] = 0.05
        along = np.concatenate(([0.0], np.cumsum(speeds * gaps)))
        # Legs between random points until the path is long enough.
        legs = [self._inside(rng, 8)]
        length = _path_lengths(legs[0])
        while length[-1] < along[-1]:
            more = np.concatenate((legs[-1][-1:], self._inside(rng, 8)))
            legs.append(more[1:])
            length = _path_lengths(np.concatenate(legs))
        path = np.concatenate(legs)
        xs = np.interp(along, length, path[:, 0]) + rng.normal(0, NOISE_M, count)
        ys = np.interp(along, length, path[:, 1]) + rng.normal(0, NOISE_M, count)
        lngs = np.round(self.lng0 + xs / self.kx, 7)
        lats = np.round(self.lat0 + ys / self.ky, 7)
        accuracy = np.round(rng.uniform(3, 15, count), 1)
        return Track(seconds, lngs, lats, accuracy)


def _path_lengths(path: np.ndarray) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))))


@dataclass
class Round:
    start: datetime
    minutes: float
    cases: list[tuple[datetime, int]]  # patrol cases of the half-day: (received at, id)


class PatrolWriter:
    """Collects patrols, findings and track points and writes them in batches."""

    def __init__(self) -> None:
        with unscoped():
            self.next_pk = (Patrol.all_objects.aggregate(m=Max("pk"))["m"] or 0) + 1
        self.patrols: list[Patrol] = []
        self.findings: list[PatrolFinding] = []
        self.points: list[tuple[Any, ...]] = []
        self.counts: dict[str, int] = defaultdict(int)
        # SQLite stores a time as the text of the naive UTC moment (Django's adapter, which
        # would cost more than the rest of this module): written the same way, from numpy.
        self.utc_text = connection.vendor == "sqlite" and connection.timezone_name == "UTC"

    def add(self, assignment: GridWorker, start: datetime, track: Track, note: str) -> int:
        """``start``: an aware moment in whole seconds."""
        pk, self.next_pk = self.next_pk, self.next_pk + 1
        code = assignment.grid.code
        end = start + timedelta(seconds=int(track.seconds[-1]))
        self.patrols.append(
            Patrol(
                pk=pk,
                worker_id=assignment.user_id,
                grid_id=assignment.grid_id,
                started_at=start,
                ended_at=end,
                note=note,
                distance_m=track.distance_m,
                point_count=len(track.seconds),
                territory_code=code,
            )
        )
        self.points.extend(
            (pk, at, lng, lat, acc, "", code)
            for at, lng, lat, acc in zip(
                self._times(start, track.seconds),
                track.lngs.tolist(),
                track.lats.tolist(),
                track.accuracy.tolist(),
                strict=True,
            )
        )
        if len(self.points) >= POINT_BATCH:
            self.flush()
        return pk

    def _times(self, start: datetime, seconds: np.ndarray) -> list[Any]:
        offsets = seconds.astype(np.int64)
        if not self.utc_text:
            return [start + timedelta(seconds=s) for s in offsets.tolist()]
        base = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "s")
        text = np.datetime_as_string(base + offsets.astype("timedelta64[s]"), unit="s")
        return [t.replace("T", " ") for t in text.tolist()]

    def find(self, patrol_pk: int, case_id: int, code: str) -> None:
        self.findings.append(
            PatrolFinding(patrol_id=patrol_pk, case_id=case_id, territory_code=code)
        )

    def flush(self) -> None:
        if self.patrols:
            insert_objects(Patrol, self.patrols, with_pk=True)
            self.counts["patrol"] += len(self.patrols)
            self.patrols = []
        if self.points:
            if self.utc_text:
                _insert_prepared(TrackPoint, POINT_COLUMNS, self.points)
            else:
                insert_rows(TrackPoint, POINT_COLUMNS, self.points)
            self.counts["trackpoint"] += len(self.points)
            self.points = []
        if self.findings:
            PatrolFinding.all_objects.bulk_create(self.findings, batch_size=2000)
            self.counts["patrolfinding"] += len(self.findings)
            self.findings = []


def _insert_prepared(
    model: type[Model], names: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Multi-row INSERT of values the driver takes as they are (see ``PatrolWriter.utc_text``)."""
    ops = connection.ops
    fields = [model._meta.get_field(name) for name in names]
    columns = ", ".join(ops.quote_name(str(f.column)) for f in fields)  # type: ignore[union-attr]
    placeholders = ", ".join(["%s"] * len(fields))
    # Table and column names come from the model's metadata, never from input.
    sql = f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(rows), POINT_BATCH):
            cursor.executemany(sql, rows[start : start + POINT_BATCH])


POINT_COLUMNS = ("patrol", "recorded_at", "lng", "lat", "accuracy_m", "flag", "territory_code")


def _patrol_cases(
    street: Street, since: datetime
) -> dict[tuple[int, int, date], list[tuple[datetime, int]]]:
    """The street's patrol cases since ``since`` not yet linked to a patrol, by (reporter,
    grid, Beijing date), each as (received at, id)."""
    rows = Case.all_objects.filter(
        channel=Channel.PATROL,
        street_code=street.code,
        created_at__gte=since,
        reporter__isnull=False,
        patrol_finding__isnull=True,
    ).values_list("reporter_id", "grid_id", "created_at", "pk")
    found: dict[tuple[int, int, date], list[tuple[datetime, int]]] = defaultdict(list)
    for reporter, grid, at, pk in rows.order_by("created_at", "pk"):
        local = at.astimezone(SHANGHAI)
        found[(reporter, grid, local.date())].append((local, pk))
    return found


def _rounds(
    day: date,
    kind: str,
    cases: list[tuple[datetime, int]],
    rng: random.Random,
) -> Iterator[Round]:
    """The rounds of one worker on one working day: one around each half-day's findings, or
    else (unless the day is missed) one ordinary round."""
    morning = [c for c in cases if c[0].hour < 13]
    afternoon = [c for c in cases if c[0].hour >= 13]
    missed = rng.random() < MISSED.get(kind, 0.1)
    if not cases:
        if missed:
            return
        after_lunch = rng.random() < AFTERNOON_SHARE
        begin = time(14, 0) if after_lunch else time(8, 30)
        start = datetime.combine(day, begin, tzinfo=SHANGHAI)
        start += timedelta(seconds=rng.randrange(90 * 60))
        yield Round(start, rng.uniform(*MINUTES), [])
        return
    for group in (morning, afternoon):
        if not group:
            continue
        minutes = rng.uniform(*MINUTES)
        first = group[0][0]
        start = first - timedelta(seconds=rng.randrange(5 * 60, 40 * 60))
        start = start.replace(microsecond=0)
        yield Round(start, minutes, group)


def build_patrols(
    street: Street,
    rng: random.Random,
    today: date,
    *,
    now: datetime | None = None,
    points: int = MAX_POINTS,
) -> dict[str, int]:
    """Patrols of the last ``WINDOW_DAYS`` days up to ``today`` for every current grid-worker
    assignment of ``street``; rows created per model name. Run after the grid workers are
    assigned and the case history is written, inside the generator's ``unscoped()``."""
    now = now or timezone.now()
    calendar = calendar_for_code(street.code)
    first_day = today - timedelta(days=WINDOW_DAYS - 1)
    days = [
        day
        for day in (first_day + timedelta(days=k) for k in range(WINDOW_DAYS))
        if is_working_day(day, calendar)
    ]
    since = datetime.combine(first_day, time.min, tzinfo=SHANGHAI)
    writer = PatrolWriter()
    with unscoped():
        cases = _patrol_cases(street, since)
        assignments = (
            GridWorker.all_objects.filter(
                grid__community__street=street,
                grid__retired_at__isnull=True,
                grid__boundary__isnull=False,
                until__isnull=True,
            )
            .select_related("grid")
            .order_by("grid__code", "kind", "user_id")
        )
        walkers: dict[int, Walker] = {}
        for assignment in assignments:
            grid = assignment.grid
            if grid.pk not in walkers:
                walkers[grid.pk] = Walker(grid.boundary or {})
            walker = walkers[grid.pk]
            for day in days:
                if day < assignment.since:
                    continue
                todays = cases.get((assignment.user_id, grid.pk, day), [])
                for round_ in _rounds(day, assignment.kind, todays, rng):
                    np_rng = np.random.default_rng(rng.getrandbits(64))
                    track = walker.track(np_rng, round_.minutes * 60, points)
                    end = round_.start + timedelta(seconds=int(track.seconds[-1]))
                    if end > now:
                        continue  # not over yet: no patrol is left open
                    found = [pk for at, pk in round_.cases if round_.start <= at <= end]
                    note = NOTE_FOUND if found else rng.choice(NOTES)
                    pk = writer.add(assignment, round_.start, track, note)
                    for case_id in found:
                        writer.find(pk, case_id, grid.code)
        writer.flush()
        reset_sequences(Patrol)
    return dict(writer.counts)

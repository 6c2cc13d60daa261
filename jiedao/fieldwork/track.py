"""A patrol's GPS track as pure functions: reading one fix from the phone, and judging the whole
track (which fixes to leave out, how far the worker walked). No database access here.

Thresholds (docs/fieldwork.md repeats them for users):

* ``MAX_ACCURACY_M`` 50 m: a fix whose reported accuracy radius is larger is flagged
  *too inaccurate* and left out (a phone indoors or just woken up).
* ``MAX_SPEED_M_S`` 12 m/s (≈ 43 km/h): faster than a grid worker walks or rides a bicycle or
  e-bike. Consecutive fixes that would need more are not one stretch of walking.
* ``MIN_RUN`` 3: the accurate fixes are cut into *runs* wherever the speed between neighbours
  exceeds ``MAX_SPEED_M_S``. A run of fewer than 3 fixes is a spike (multipath, a bad first fix)
  and its fixes are flagged *impossible jump*, as long as the track has at least one run of 3;
  with no such run nothing is flagged as a jump (too few fixes to tell which one is wrong).
* Distance: the sum of great-circle distances between consecutive used fixes, leaving out any leg
  faster than ``MAX_SPEED_M_S`` (a gap, e.g. a bus ride between two stretches of patrol).

The judgement depends only on the *set* of fixes (they are sorted by time first), so a track
uploaded in any order, in any batches, with any repetition, gives the same flags and distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from django.utils.translation import gettext as _

from jiedao.cases.coords import out_of_china, to_wgs84
from jiedao.core.geo import haversine_m

MAX_ACCURACY_M = 50.0
MAX_SPEED_M_S = 12.0
MIN_RUN = 3
# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = timedelta(minutes=5)
# Fixes taken shortly before the patrol was started (the phone warming up) or after it ended
# (the last batch sent on "end patrol") still belong to it.
START_SLACK = timedelta(minutes=5)
END_SLACK = timedelta(minutes=5)
MAX_TIME_TEXT = 40
COORDINATE_DIGITS = 7  # about 1 cm


@dataclass(frozen=True)
class Fix:
    """One GPS fix in WGS-84 at an aware UTC time (milliseconds, as browsers give them)."""

    at: datetime
    lng: float
    lat: float
    accuracy: float | None = None


class BadFix(ValueError):
    """One fix that cannot be stored: ``code`` for programs, ``message`` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_time(value: Any) -> datetime:
    """An ISO 8601 time with a zone (``2026-10-08T09:15:02.123+08:00`` or ``…Z``), in UTC,
    cut to milliseconds. A time whose UTC value falls outside the years 1–9999
    (``0001-01-01T00:00:00+14:00``) is a bad time too, never an error of the server."""
    if not isinstance(value, str) or not value or len(value) > MAX_TIME_TEXT:
        raise BadFix("time", _("The time must be an ISO 8601 text with a time zone."))
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise BadFix("time", _("The time must be an ISO 8601 text with a time zone.")) from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BadFix("time_zone", _("The time has no time zone."))
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadFix("time", _("The time must be an ISO 8601 text with a time zone.")) from exc
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def parse_fix(
    raw: Any,
    *,
    crs: str,
    now: datetime,
    started_at: datetime,
    ended_at: datetime | None,
) -> Fix:
    """One fix from the phone, ``{"t", "lat", "lng", "accuracy"}``, checked and converted to
    WGS-84; raises ``BadFix`` with the reason."""
    if not isinstance(raw, dict):
        raise BadFix("not_object", _("A point must be an object with t, lat and lng."))
    at = parse_time(raw.get("t"))
    lng, lat = _number(raw.get("lng")), _number(raw.get("lat"))
    if lng is None or lat is None:
        raise BadFix("coordinates", _("Latitude and longitude must be numbers."))
    if out_of_china(lng, lat):
        raise BadFix("outside_china", _("The point lies outside China."))
    accuracy: float | None = None
    if raw.get("accuracy") is not None:
        accuracy = _number(raw.get("accuracy"))
        if accuracy is None or accuracy < 0:
            raise BadFix("accuracy", _("The accuracy must be a number of metres, 0 or more."))
    if at > now + CLOCK_SKEW:
        raise BadFix("future", _("The point's time is in the future."))
    if at < started_at - START_SLACK:
        raise BadFix("before_start", _("The point was recorded before the patrol started."))
    if ended_at is not None and at > ended_at + END_SLACK:
        raise BadFix("after_end", _("The point was recorded after the patrol ended."))
    lng, lat = to_wgs84(lng, lat, crs)
    return Fix(at, round(lng, COORDINATE_DIGITS), round(lat, COORDINATE_DIGITS), accuracy)


def best_of(fixes: list[Fix]) -> Fix:
    """Of several fixes with the same time, the one kept: the most accurate (a fix without an
    accuracy last), then the smallest longitude and latitude, so the choice never depends on
    the order they arrived in."""
    return min(fixes, key=lambda f: (f.accuracy is None, f.accuracy or 0.0, f.lng, f.lat))


def speed_m_s(a: Fix, b: Fix) -> float:
    seconds = abs((b.at - a.at).total_seconds())
    metres = haversine_m(a.lng, a.lat, b.lng, b.lat)
    if seconds == 0:
        return 0.0 if metres == 0 else math.inf
    return metres / seconds


INACCURATE = "inaccurate"
JUMP = "jump"


@dataclass(frozen=True)
class Assessment:
    flags: list[str]  # per fix, in time order: "" used, INACCURATE or JUMP
    distance_m: float

    @property
    def used(self) -> int:
        return sum(1 for flag in self.flags if not flag)

    @property
    def flagged(self) -> int:
        return len(self.flags) - self.used


def assess(fixes: list[Fix]) -> Assessment:
    """Flags and distance of a track; ``fixes`` must be in time order with distinct times."""
    flags = [
        INACCURATE if f.accuracy is not None and f.accuracy > MAX_ACCURACY_M else "" for f in fixes
    ]
    runs: list[list[int]] = []
    for index, fix in enumerate(fixes):
        if flags[index]:
            continue
        if runs and speed_m_s(fixes[runs[-1][-1]], fix) <= MAX_SPEED_M_S:
            runs[-1].append(index)
        else:
            runs.append([index])
    if runs and max(len(run) for run in runs) >= MIN_RUN:
        for run in runs:
            if len(run) < MIN_RUN:
                for index in run:
                    flags[index] = JUMP
    used = [fix for fix, flag in zip(fixes, flags, strict=True) if not flag]
    distance = sum(
        haversine_m(a.lng, a.lat, b.lng, b.lat)
        for a, b in pairwise(used)
        if speed_m_s(a, b) <= MAX_SPEED_M_S
    )
    return Assessment(flags, distance)

"""Property: however a batch of fixes is cut up, reordered and repeated on the way from the
phone, the stored track, its flags and its distance are those of the batch sent once in order.

(Exact repeats only: two *different* fixes with the same time keep the first to arrive once one
of them is stored; within one batch the choice is ``track.best_of``, order-free.)"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiedao.core.scopes import unscoped
from jiedao.fieldwork import services
from jiedao.fieldwork.models import Patrol, TrackPoint
from tests.fieldwork.conftest import inside, iso, make_patrol

pytestmark = pytest.mark.django_db

# One fix: seconds after the start (distinct), a step east/north in metres, and an accuracy.
fixes = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=7200),
        st.floats(min_value=-60, max_value=60),
        st.floats(min_value=-60, max_value=60),
        st.one_of(st.none(), st.floats(min_value=0, max_value=120)),
        st.booleans(),  # a far jump (~2 km) instead of the step
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda fix: fix[0],
)


def build(origin, start, raw):
    lng, lat = origin
    points = []
    for seconds, east, north, accuracy, jump in sorted(raw):
        lng += 0.025 if jump else east * 0.0000118
        lat += north * 0.000009
        points.append(
            {
                "t": iso(start + timedelta(seconds=seconds)),
                "lng": lng,
                "lat": lat,
                "accuracy": accuracy,
            }
        )
        if jump:
            lng -= 0.025
    return points


def picture(patrol):
    with unscoped():
        rows = list(
            TrackPoint.objects.filter(patrol=patrol)
            .order_by("recorded_at")
            .values_list("recorded_at", "lng", "lat", "accuracy_m", "flag")
        )
    patrol = Patrol.all_objects.get(pk=patrol.pk)
    return rows, (patrol.distance_m, patrol.point_count, patrol.flagged_count)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=fixes, seed=st.integers(min_value=0, max_value=2**32 - 1), repeats=st.integers(0, 20))
def test_any_permutation_and_duplication_gives_the_same_track(world, worker, raw, seed, repeats):
    start = timezone.now() - timedelta(hours=3)
    points = build(inside(world.grid_a1x), start, raw)
    end = start + timedelta(hours=2, minutes=1)
    reference = make_patrol(worker, world.grid_a1x, started_at=start, ended_at=end)
    shuffled = make_patrol(worker, world.grid_a1x, started_at=start, ended_at=end)
    once = services.record_track(worker, reference, points)
    assert once.accepted == len(points) and not once.rejected

    rng = random.Random(seed)
    sent = points + [rng.choice(points) for _ in range(repeats)]
    rng.shuffle(sent)
    accepted = duplicate = 0
    while sent:
        size = rng.randint(1, 12)
        batch, sent = sent[:size], sent[size:]
        result = services.record_track(worker, shuffled, batch)
        accepted += result.accepted
        duplicate += result.duplicate
        assert not result.rejected

    assert picture(shuffled) == picture(reference)
    assert accepted == len(points) and duplicate == repeats

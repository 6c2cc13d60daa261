"""The 人户分离 rule (domain.md §2) done set-based: ``reconcile`` must give exactly what
``services.residence_of`` gives each person, in one statement, under a territory prefix only."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiedao.registry.models import Person, Residence
from jiedao.registry.reconciliation import reconcile
from jiedao.registry.services import residence_of
from tests.registry.reconciliation_fixtures import dwellings_in, person, residence, stale

R = Residence


@pytest.fixture
def homes(world):
    """Three dwellings in grid A1x and one in grid A2x (community A2)."""
    return [*dwellings_in(world.grid_a1x, 3), *dwellings_in(world.grid_a2x, 1)]


# (lives at, registered at, verified) → class, by hand from domain.md §2 and the model's notes.
RULES = [
    (0, 0, "", R.CONSISTENT),  # 人户一致: lives where registered
    (0, 1, "", R.LIVES_NOT_REGISTERED),  # lives here, registered at another dwelling
    (0, 3, "", R.LIVES_NOT_REGISTERED),  # ... in another community
    (0, None, "", R.LIVES_NOT_REGISTERED),  # 人在户不在: registered outside the street
    (None, 0, "", R.REGISTERED_NOT_LIVING),  # 户在人不在: registered here, lives elsewhere
    (None, 3, "", R.REGISTERED_NOT_LIVING),
    (0, 0, R.REGISTERED_NOT_LIVING, R.REGISTERED_NOT_LIVING),  # the door-to-door finding wins
    (None, 0, R.CONSISTENT, R.CONSISTENT),
    (0, None, R.GONE, R.GONE),
]


@pytest.mark.parametrize(("lives", "registered", "verified", "expected"), RULES)
def test_rule(homes, lives, registered, verified, expected):
    p = person(
        homes[lives] if lives is not None else None,
        homes[registered] if registered is not None else None,
        verified=verified,
    )
    stale(p)
    assert reconcile() == 1
    assert residence(p) == expected
    assert residence_of(Person.all_objects.get(pk=p.pk)) == expected


def test_only_changed_rows_are_written_and_a_second_run_changes_nothing(homes):
    right = person(homes[0], homes[0])
    wrong = person(homes[1], None)
    stale(wrong, value=R.CONSISTENT)
    assert reconcile() == 1
    assert (residence(right), residence(wrong)) == (R.CONSISTENT, R.LIVES_NOT_REGISTERED)
    assert reconcile() == 0


def test_only_persons_under_the_prefix_are_classified(world, homes):
    in_a1x = person(homes[0], None)
    in_a2x = person(homes[3], None)
    stale(in_a1x, in_a2x)
    assert reconcile(world.grid_a1x.code) == 1
    assert residence(in_a1x) == R.LIVES_NOT_REGISTERED
    assert residence(in_a2x) == R.UNKNOWN
    assert reconcile(world.street_a.code[:9]) == 1
    assert residence(in_a2x) == R.LIVES_NOT_REGISTERED


def test_one_statement_whatever_the_number_of_persons(homes):
    people = [person(homes[i % 4], homes[(i * 7) % 4] if i % 3 else None) for i in range(60)]
    stale(*people)
    with CaptureQueriesContext(connection) as queries:
        changed = reconcile()
    assert len(queries.captured_queries) == 1
    assert queries.captured_queries[0]["sql"].lstrip().upper().startswith("UPDATE")
    # The fixture's own four people are consistent already and are not rewritten.
    assert changed == 60


PLACES = st.sampled_from([None, 0, 1, 2, 3])
VERIFIED = st.sampled_from(["", *R.values])
STORED = st.sampled_from(R.values)
ONE_PERSON = st.tuples(PLACES, PLACES, VERIFIED, STORED).filter(
    lambda row: row[0] is not None or row[1] is not None  # lives or is registered somewhere
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(ONE_PERSON, min_size=1, max_size=12))
def test_set_based_equals_residence_of_for_every_person(homes, rows):
    with transaction.atomic():  # each example starts from the fixture's world again
        created = []
        for lives, registered, verified, stored in rows:
            p = person(
                homes[lives] if lives is not None else None,
                homes[registered] if registered is not None else None,
                verified=verified,
            )
            stale(p, value=stored)
            created.append(p.pk)
        reconcile()
        for p in Person.all_objects.filter(pk__in=created):
            assert p.residence == residence_of(p), (p.dwelling_id, p.registered_dwelling_id)
        transaction.set_rollback(True)

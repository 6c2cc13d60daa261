"""Counts per street, community and grid, with the domain's numbers (domain.md §2, s001):
古塘 2,800 registered households of which ~1,500 consistent (here 28 and 15: 53.6 %);
旦苑 438 registered households but 2,260 owner-occupied ones (here 4 and 22)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from jiedao.core.scopes import unscoped
from jiedao.registry.models import Household, Person, Residence
from jiedao.registry.reconciliation import (
    COMMUNITY,
    GRID,
    STREET,
    Counts,
    counts,
    node_counts,
    rate,
    reconcile,
    total,
)
from tests import factories as f
from tests.registry.reconciliation_fixtures import (
    dwellings_in,
    person,
    registered_household,
    registered_households,
)

R = Residence


def test_gutang_28_registered_households_15_consistent(world):
    registered_households(world.grid_a1y, total=28, consistent=15)
    reconcile()
    grid = counts(GRID)[world.grid_a1y.code]
    assert (grid.registered_households, grid.consistent_households) == (28, 15)
    assert grid.household_rate == 53.6
    # 15 live at home, 28 are registered here and live elsewhere (one per household), and the
    # world's own person of the grid lives at home in a residing household.
    assert (grid.persons, grid.consistent, grid.registered_not_living) == (44, 16, 28)
    assert grid.consistent_rate == 36.4
    community = counts(COMMUNITY)[world.community_a1.code]
    assert (community.registered_households, community.consistent_households) == (28, 15)
    # The community also holds the world's consistent person of grid A1x.
    assert (community.persons, community.consistent) == (45, 17)


def test_danyuan_few_registered_households_many_residing(world):
    homes = dwellings_in(world.grid_a2x, 22)
    for index, home in enumerate(homes):
        residing = f.HouseholdFactory(dwelling=home)  # owner-occupied, registered elsewhere
        person(home, None, household=residing)
        if index < 4:
            registered = registered_household(home)
            person(None, home, registered_household=registered)
    reconcile()
    grid = counts(GRID)[world.grid_a2x.code]
    # The world's own person of grid A2x lives in a residing household too.
    assert (grid.registered_households, grid.residing_households) == (4, 23)
    assert grid.consistent_households == 0
    assert grid.household_rate == 0.0
    assert (grid.lives_not_registered, grid.registered_not_living) == (22, 4)


def test_a_verified_member_makes_the_household_consistent(world):
    (home,) = dwellings_in(world.grid_a1x, 1)
    household = registered_household(home)
    member = person(None, home, registered_household=household)
    reconcile()
    assert counts(GRID)[world.grid_a1x.code].consistent_households == 0
    Person.all_objects.filter(pk=member.pk).update(verified_residence=R.CONSISTENT)
    reconcile()
    assert counts(GRID)[world.grid_a1x.code].consistent_households == 1


def test_counts_per_level_are_keyed_by_node_code_and_add_up(world):
    registered_households(world.grid_a1x, total=3, consistent=2)
    registered_households(world.grid_a2x, total=2, consistent=1)
    person(None, dwellings_in(world.grid_b1x, 1)[0])
    reconcile()
    streets = counts(STREET)
    assert set(streets) == {world.street_a.code, world.street_b.code}
    communities = counts(COMMUNITY, world.street_a.code[:9])
    assert set(communities) == {world.community_a1.code, world.community_a2.code}
    street_a = total(communities.values(), world.street_a.code)
    # The world's 3 persons at home (residing households), 2 + 1 registered members at home,
    # 3 + 2 registered members away.
    assert street_a == Counts(
        world.street_a.code,
        persons=11,
        consistent=6,
        registered_not_living=5,
        registered_households=5,
        consistent_households=3,
        residing_households=3,
    )
    assert streets[world.street_a.code] == street_a
    assert streets[world.street_b.code].registered_not_living == 1


def test_two_grouped_queries_for_any_number_of_nodes(world):
    registered_households(world.grid_a1x, total=4, consistent=2)
    registered_households(world.grid_b1x, total=4, consistent=2)
    with unscoped(), CaptureQueriesContext(connection) as queries:
        node_counts(GRID, Person.all_objects.all(), Household.all_objects.all())
    assert len(queries.captured_queries) == 2


def test_rates():
    assert rate(1500, 2800) == 53.6
    assert rate(0, 0) is None
    assert Counts("x").household_rate is None
    assert Counts("x", persons=3, lives_not_registered=1).share(R.LIVES_NOT_REGISTERED) == 33.3

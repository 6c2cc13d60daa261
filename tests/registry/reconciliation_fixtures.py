"""Builders for the reconciliation and verification tests: dwellings in a grid, persons who
live and/or are registered somewhere, registered households."""

from __future__ import annotations

from itertools import count
from typing import Any

from jiedao.registry.models import Household, Person, Residence
from tests import factories as f

_rooms = count(1)


def entrance_in(grid):
    return f.EntranceFactory(building=f.BuildingFactory(grid=grid))


def dwellings_in(grid, n: int, entrance=None) -> list:
    """``n`` dwellings on one entrance of a new building in ``grid``."""
    entrance = entrance or entrance_in(grid)
    return [f.DwellingFactory(entrance=entrance, room=str(next(_rooms))) for _ in range(n)]


def person(
    lives=None,
    registered=None,
    *,
    verified: str = "",
    household=None,
    registered_household=None,
    **kwargs,
) -> Any:
    """A person living at dwelling ``lives`` and registered at ``registered`` (either may be
    None), classified as ``services.fill_derived`` does."""
    return f.PersonFactory(
        dwelling=lives,
        registered_dwelling=registered,
        household=household,
        registered_household=registered_household,
        verified_residence=verified,
        **kwargs,
    )


def registered_household(dwelling) -> Any:
    return f.HouseholdFactory(dwelling=dwelling, kind=Household.Kind.REGISTERED)


def registered_households(grid, total: int, consistent: int) -> list[Household]:
    """``total`` registered households in ``grid``: in the first ``consistent`` one registered
    member lives at home (and one lives elsewhere); in the others every registered member lives
    elsewhere or is gone."""
    homes = dwellings_in(grid, total)
    households = []
    for index, home in enumerate(homes):
        household = registered_household(home)
        if index < consistent:
            person(home, home, registered_household=household)
        person(None, home, registered_household=household)
        households.append(household)
    return households


def stale(*people: Person, value: str = Residence.UNKNOWN) -> None:
    """Write a wrong class straight to the table, as after a bulk load that skipped it."""
    Person.all_objects.filter(pk__in=[p.pk for p in people]).update(residence=value)


def residence(p: Person) -> str:
    return Person.all_objects.values_list("residence", flat=True).get(pk=p.pk)

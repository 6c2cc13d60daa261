"""A party tree on the shared ``world``: street A (working committee) → communities A1 (general
branch) and A2 (branch) → grid branches A1x, A1y, A2x → a building group in A1x; street B →
B1 → B1x. Each grid's resident (``world.persons``) is a member of its grid's branch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from jiedao.party import services
from jiedao.party.models import Form, PartyMember, PartyOrganisation
from tests import factories as f


@dataclass
class PartyWorld:
    street_a: PartyOrganisation
    a1: PartyOrganisation
    a2: PartyOrganisation
    a1x: PartyOrganisation
    a1y: PartyOrganisation
    a2x: PartyOrganisation
    group_a1x: PartyOrganisation
    street_b: PartyOrganisation
    b1: PartyOrganisation
    b1x: PartyOrganisation


def people_in(building, n: int, born: date = date(1975, 5, 1)) -> list:
    """``n`` adults living in ``building``."""
    return [
        f.PersonFactory(household__dwelling__entrance__building=building, birth_date=born)
        for _ in range(n)
    ]


@pytest.fixture
def party(world) -> PartyWorld:
    create = services.create_organisation
    street_a = create(None, world.street_a, Form.WORKING_COMMITTEE)
    a1 = create(None, world.community_a1, Form.GENERAL_BRANCH)
    a2 = create(None, world.community_a2, Form.BRANCH)
    a1x = create(None, world.grid_a1x, Form.BRANCH)
    a1y = create(None, world.grid_a1y, Form.BRANCH)
    a2x = create(None, world.grid_a2x, Form.BRANCH)
    group = create(None, world.buildings["a1x"], Form.GROUP)
    street_b = create(None, world.street_b, Form.WORKING_COMMITTEE)
    b1 = create(None, world.community_b1, Form.BRANCH)
    b1x = create(None, world.grid_b1x, Form.BRANCH)
    for key, org in (("a1x", a1x), ("a1y", a1y), ("a2x", a2x), ("b1x", b1x)):
        services.add_member(None, org, world.persons[key])
    return PartyWorld(street_a, a1, a2, a1x, a1y, a2x, group, street_b, b1, b1x)


def member_count() -> int:
    return PartyMember.all_objects.count()


@pytest.fixture(autouse=True)
def english(client):
    """Pages are checked in English (the UI defaults to zh-hans)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"

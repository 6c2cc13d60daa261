from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.utils import translation
from hypothesis import settings as hypothesis_settings

from jiedao.accounts.roles import Role
from tests import factories as f

# CI runs the same examples every time (a red build must be reproducible, not bad luck);
# HYPOTHESIS_PROFILE=explore searches afresh on a developer's machine.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache (the grid map keeps its data for a minute)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def messages_in_english():
    """Service refusals are asserted in English; pages still follow each request's language
    (zh-hans by default), since the locale middleware activates its own per request."""
    with translation.override("en"):
        yield


@dataclass
class World:
    """Two streets in one district, two communities in street A, two grids in community A1,
    with a building, dwelling, household and person in each grid, and a department."""

    district: object
    street_a: object
    street_b: object
    community_a1: object
    community_a2: object
    community_b1: object
    grid_a1x: object
    grid_a1y: object
    grid_a2x: object
    grid_b1x: object
    department: object
    other_department: object
    buildings: dict
    persons: dict


def _populate(grid, n):
    dwelling = f.DwellingFactory(entrance__building__grid=grid)
    person = f.PersonFactory(household__dwelling=dwelling)
    f.OrganisationFactory(grid=grid)
    return dwelling.building, person


@pytest.fixture
def world(db) -> World:
    district = f.DistrictFactory(code="110119000000", name="延庆区")
    street_a = f.StreetFactory(district=district, code="110119001000", name="香水园街道")
    street_b = f.StreetFactory(district=district, code="110119002000", name="儒林街道")
    c_a1 = f.CommunityFactory(street=street_a, code="110119001001", name="香水园社区")
    c_a2 = f.CommunityFactory(street=street_a, code="110119001002", name="新兴西社区")
    c_b1 = f.CommunityFactory(street=street_b, code="110119002001", name="儒林社区")
    grids = {
        "a1x": f.GridFactory(community=c_a1, code="110119001001001", name="香水园第一网格"),
        "a1y": f.GridFactory(community=c_a1, code="110119001001002", name="香水园第二网格"),
        "a2x": f.GridFactory(community=c_a2, code="110119001002001", name="新兴西第一网格"),
        "b1x": f.GridFactory(community=c_b1, code="110119002001001", name="儒林第一网格"),
    }
    buildings, persons = {}, {}
    for key, grid in grids.items():
        buildings[key], persons[key] = _populate(grid, key)
    return World(
        district,
        street_a,
        street_b,
        c_a1,
        c_a2,
        c_b1,
        grids["a1x"],
        grids["a1y"],
        grids["a2x"],
        grids["b1x"],
        f.DepartmentFactory(district=district, code="CG", name="区城市管理委员会"),
        f.DepartmentFactory(
            district=f.DistrictFactory(code="110228000000", name="密云区"),
            code="SW",
            name="密云区水务局",
        ),
        buildings,
        persons,
    )


@pytest.fixture
def role_users(world):
    """One user per role, each granted inside street A (community A1, grid A1x where relevant)."""
    return {
        Role.RESIDENT: f.user_with_role(Role.RESIDENT, world.community_a1, username="resident"),
        Role.GRID_WORKER: f.user_with_role(Role.GRID_WORKER, world.grid_a1x, username="gridworker"),
        Role.WORKSTATION_STAFF: f.user_with_role(
            Role.WORKSTATION_STAFF, world.community_a1, username="workstation"
        ),
        Role.COMMITTEE_MEMBER: f.user_with_role(
            Role.COMMITTEE_MEMBER, world.community_a1, username="committee"
        ),
        Role.STREET_STAFF: f.user_with_role(Role.STREET_STAFF, world.street_a, username="street"),
        Role.STREET_LEADER: f.user_with_role(Role.STREET_LEADER, world.street_a, username="leader"),
        Role.DEPARTMENT_STAFF: f.user_with_role(
            Role.DEPARTMENT_STAFF, world.department, username="department"
        ),
        Role.DISTRICT_ADMIN: f.user_with_role(
            Role.DISTRICT_ADMIN, world.district, username="district"
        ),
        Role.SYSTEM_ADMIN: f.user_with_role(Role.SYSTEM_ADMIN, username="admin"),
    }

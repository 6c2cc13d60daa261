"""GET /api/persons and /api/persons/{id}: scoped, masked, paginated; 403 without the registry,
404 outside the territory; never a plaintext identity number, phone or address."""

from __future__ import annotations

import pytest

import jiedao.config.urls  # noqa: F401 - mounts the project's routers, so the check below sees them
from jiedao.accounts.roles import Role
from jiedao.accounts.services import issue_api_token
from jiedao.core.api import api
from jiedao.registry.api import router
from tests.registry.people_helpers import ADDRESS, BROWSE, people, status_for

# Until jiedao.core.api.register_routers() mounts the persons router, a test URLconf does.
MOUNTED = any(mounted is router for _prefix, mounted in api._routers)
pytestmark = [] if MOUNTED else [pytest.mark.urls("tests.registry.person_api_urls")]

ROLES = list(Role)
KEYS = ["a1x", "a1y", "b1x"]


@pytest.fixture
def someone(world):
    return people(world)


def _plaintext_in(text, someone):
    return any(s.identity in text or s.phone in text for s in someone.values()) or ADDRESS in text


@pytest.mark.parametrize("role", ROLES)
def test_list_is_scoped_and_masked(client, someone, role_users, role):
    client.force_login(role_users[role])
    response = client.get("/api/persons")
    if BROWSE[role] is None:
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        return
    assert response.status_code == 200
    items = response.json()["items"]
    assert {i["name"] for i in items} == {someone[k].person.name for k in BROWSE[role]}
    assert not _plaintext_in(response.text, someone)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", KEYS)
def test_detail_is_scoped_and_masked(client, someone, role_users, role, key):
    client.force_login(role_users[role])
    s = someone[key]
    response = client.get(f"/api/persons/{s.person.pk}")
    assert response.status_code == status_for(role, key), (role, key)
    if response.status_code == 404:
        assert response.json()["code"] == "not_found"
    if response.status_code == 200:
        data = response.json()
        assert data["identity_number_masked"] == s.identity[:6] + "********" + s.identity[-4:]
        assert data["phone_masked"] == s.phone[:3] + "****" + s.phone[-4:]
        assert data["registered_address_masked"] == "香水园路12号"
        assert not _plaintext_in(response.text, someone)
        assert "identity_number" not in data and "phone" not in data


def test_search_parameters_match_the_list_page(client, someone, role_users, world):
    client.force_login(role_users[Role.DISTRICT_ADMIN])

    def names(query):
        response = client.get(f"/api/persons?{query}")
        assert response.status_code == 200, response.content
        return sorted(i["name"] for i in response.json()["items"])

    assert names("q=wxm") == ["王小明"]
    assert names("q=小明") == ["王小明"]
    assert names(f"q={someone['b1x'].identity.lower()}") == ["孙丽"]
    assert names("q=%2B86%20139%208765%204321") == ["李红"]
    assert names("q=4321") == []
    assert names("sex=F") == ["孙丽", "李红"]
    assert names("age_band=0-17") == ["赵刚"]
    assert names(f"community={world.community_a1.pk}") == ["李红", "王小明"]
    assert names(f"grid={world.grid_b1x.pk}") == ["孙丽"]


def test_a_grid_worker_gets_nobody_from_the_next_grid(client, someone, role_users, world):
    client.force_login(role_users[Role.GRID_WORKER])
    assert client.get(f"/api/persons?grid={world.grid_a1y.pk}").json()["items"] == []
    assert client.get(f"/api/persons?q={someone['a1y'].phone}").json()["items"] == []


def test_bad_filter_values_are_clear_errors(client, someone, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    for query in ("age_band=old", "sex=X", "residence=here", "care_group=rich", "grid=abc"):
        response = client.get(f"/api/persons?{query}", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 422, query
        assert response.json()["code"] == "invalid"


def test_lists_are_paginated(client, someone, role_users):
    client.force_login(role_users[Role.SYSTEM_ADMIN])
    first = client.get("/api/persons?page_size=3&page=1").json()
    second = client.get("/api/persons?page_size=3&page=2").json()
    assert first["count"] == 4 and len(first["items"]) == 3 and len(second["items"]) == 1
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in second["items"]})


def test_token_callers_are_scoped_too(client, someone, role_users):
    _token_row, key = issue_api_token(None, role_users[Role.GRID_WORKER], "台账系统")
    response = client.get("/api/persons", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert [i["name"] for i in response.json()["items"]] == ["王小明"]
    assert not _plaintext_in(response.text, someone)


def test_signed_out_callers_are_401(client, someone):
    response = client.get("/api/persons")
    assert response.status_code == 401

"""Every role × every territory endpoint (pages and API) × inside and outside its territory.

Expectations are written out by hand from domain.md §10, not derived from the implementation:
a grid worker sees their grid, a community its grids, a street its communities, a district all of
it, a department the structure of its district and no records below grids, a resident nothing but
the structure of their community.
"""

from __future__ import annotations

import pytest

from jiedao.accounts.roles import Role

ALL_GRIDS = {"a1x", "a1y", "a2x", "b1x"}
# Grids whose buildings and organisations each role may see.
RECORD_GRIDS = {
    Role.RESIDENT: set(),
    Role.GRID_WORKER: {"a1x"},
    Role.WORKSTATION_STAFF: {"a1x", "a1y"},
    Role.COMMITTEE_MEMBER: {"a1x", "a1y"},
    Role.STREET_STAFF: {"a1x", "a1y", "a2x"},
    Role.STREET_LEADER: {"a1x", "a1y", "a2x"},
    Role.DEPARTMENT_STAFF: set(),
    Role.DISTRICT_ADMIN: ALL_GRIDS,
    Role.SYSTEM_ADMIN: ALL_GRIDS,
}
# Territory structure (streets, communities, grids) each role may see, by world attribute.
COMMUNITY_A1 = {"street_a", "community_a1", "grid_a1x", "grid_a1y"}
STREET_A = COMMUNITY_A1 | {"community_a2", "grid_a2x"}
WHOLE_DISTRICT = STREET_A | {"street_b", "community_b1", "grid_b1x"}
STRUCTURE = {
    Role.RESIDENT: {"street_a", "community_a1"},
    Role.GRID_WORKER: {"street_a", "community_a1", "grid_a1x"},
    Role.WORKSTATION_STAFF: COMMUNITY_A1,
    Role.COMMITTEE_MEMBER: COMMUNITY_A1,
    Role.STREET_STAFF: STREET_A,
    Role.STREET_LEADER: STREET_A,
    Role.DEPARTMENT_STAFF: WHOLE_DISTRICT,
    Role.DISTRICT_ADMIN: WHOLE_DISTRICT,
    Role.SYSTEM_ADMIN: WHOLE_DISTRICT,
}
ALL_NODES = STRUCTURE[Role.SYSTEM_ADMIN]
# Departments are structure: everyone sees those of their own district (cases are sent to them).
DEPARTMENTS = {role: {"department"} for role in Role} | {
    Role.SYSTEM_ADMIN: {"department", "other_department"}
}
NODE_PAGES = {"street": "streets", "community": "communities", "grid": "grids"}
ROLES = list(Role)


def _login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("node_attr", sorted(ALL_NODES))
def test_node_detail_page_and_api(client, world, role_users, role, node_attr):
    node = getattr(world, node_attr)
    kind = node_attr.split("_")[0]
    _login(client, role_users[role])
    allowed = node_attr in STRUCTURE[role]

    page = client.get(f"/territory/{NODE_PAGES[kind]}/{node.code}/")
    if role == Role.RESIDENT:
        assert page.status_code == 403  # staff pages are not for residents
    else:
        assert page.status_code == (200 if allowed else 404), (role, node_attr)

    api = client.get(f"/api/territory/{NODE_PAGES[kind]}/{node.code}")
    assert api.status_code == (200 if allowed else 404), (role, node_attr)
    if not allowed:
        assert api.json()["code"] == "not_found"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", ["street", "community", "grid"])
def test_node_lists(client, world, role_users, role, kind):
    _login(client, role_users[role])
    expected = {getattr(world, a).code for a in STRUCTURE[role] if a.startswith(kind)}
    api = client.get(f"/api/territory/{NODE_PAGES[kind]}?page_size=100")
    assert api.status_code == 200
    assert {row["code"] for row in api.json()["items"]} == expected, role

    page = client.get(f"/territory/{NODE_PAGES[kind]}/")
    if role == Role.RESIDENT:
        assert page.status_code == 403
        return
    assert page.status_code == 200
    shown = {row.code for row in page.context["object_list"]}
    assert shown == expected, role


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("grid_key", sorted(ALL_GRIDS))
def test_building_detail(client, world, role_users, role, grid_key):
    building = world.buildings[grid_key]
    _login(client, role_users[role])
    allowed = grid_key in RECORD_GRIDS[role]
    api = client.get(f"/api/territory/buildings/{building.pk}")
    assert api.status_code == (200 if allowed else 404), (role, grid_key)
    page = client.get(f"/territory/buildings/{building.pk}/")
    if role == Role.RESIDENT:
        assert page.status_code == 403
    else:
        assert page.status_code == (200 if allowed else 404), (role, grid_key)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("grid_key", sorted(ALL_GRIDS))
@pytest.mark.parametrize("kind", ["dwellings", "organisations"])
def test_record_detail(client, world, role_users, role, grid_key, kind):
    building = world.buildings[grid_key]
    record = (
        building.dwellings.model.all_objects.get(building=building)
        if kind == "dwellings"
        else (building.grid.organisations.model.all_objects.get(grid=building.grid))
    )
    _login(client, role_users[role])
    allowed = grid_key in RECORD_GRIDS[role]
    assert client.get(f"/api/territory/{kind}/{record.pk}").status_code == (200 if allowed else 404)
    page = client.get(f"/territory/{kind}/{record.pk}/")
    expected_page = 403 if role == Role.RESIDENT else (200 if allowed else 404)
    assert page.status_code == expected_page, (role, grid_key, kind)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ["buildings", "organisations", "dwellings", "addresses"])
def test_record_lists(client, world, role_users, role, endpoint):
    _login(client, role_users[role])
    grid_codes = {getattr(world, f"grid_{key}").code for key in RECORD_GRIDS[role]}
    api = client.get(f"/api/territory/{endpoint}?page_size=100")
    assert api.status_code == 200
    assert {row["territory_code"] for row in api.json()["items"]} == grid_codes, role
    page = client.get(f"/territory/{endpoint}/")
    if role == Role.RESIDENT:
        assert page.status_code == 403
    else:
        assert {row.territory_code for row in page.context["object_list"]} == grid_codes, role


@pytest.mark.parametrize("role", ROLES)
def test_district_list_and_detail(client, world, role_users, role):
    _login(client, role_users[role])
    codes = {row["code"] for row in client.get("/api/territory/districts").json()["items"]}
    expected = {"110119000000", "110228000000"} if role == Role.SYSTEM_ADMIN else {"110119000000"}
    assert codes == expected, role
    other = client.get("/territory/districts/110228000000/")
    assert other.status_code == (
        403 if role == Role.RESIDENT else 200 if role == Role.SYSTEM_ADMIN else 404
    )


@pytest.mark.parametrize("role", ROLES)
def test_department_list_and_detail(client, world, role_users, role):
    _login(client, role_users[role])
    expected = DEPARTMENTS[role]
    api = client.get("/api/territory/departments")
    assert {row["code"] for row in api.json()["items"]} == {
        getattr(world, a).code for a in expected
    }, role
    for attr in ("department", "other_department"):
        code = getattr(world, attr).code
        api = client.get(f"/api/territory/departments/{code}")
        assert api.status_code == (200 if attr in expected else 404), (role, attr)
        page = client.get(f"/territory/departments/{code}/")
        if role == Role.RESIDENT:
            assert page.status_code == 403
        else:
            assert page.status_code == (200 if attr in expected else 404), (role, attr)


@pytest.mark.parametrize("role", ROLES)
def test_audit_trail_page(client, world, role_users, role):
    _login(client, role_users[role])
    response = client.get("/audit/")
    allowed = role in {Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
    assert response.status_code == (200 if allowed else 403), role


@pytest.mark.parametrize("role", ROLES)
def test_home_page(client, world, role_users, role):
    _login(client, role_users[role])
    assert client.get("/home/").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/home/",
        "/territory/streets/",
        "/territory/grids/110119001001001/",
        "/audit/",
        "/territory/buildings/",
    ],
)
def test_anonymous_is_sent_to_login(client, world, url):
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "url",
    ["/api/territory/streets", "/api/territory/buildings", "/api/territory/grids/110119001001001"],
)
def test_anonymous_api_is_401(client, world, url):
    response = client.get(url)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_permissions_follow_the_grant_not_the_merged_scope(client, world, role_users):
    """Workstation staff in community A1 who is also a grid worker in grid A2x may edit only in
    A1, and a street leader of street A who is a grid worker in B1x reads only A's audit trail."""
    from django.core.exceptions import PermissionDenied

    from jiedao.audit.services import log_action
    from jiedao.territory import services
    from tests.factories import user_with_role

    both = user_with_role(Role.WORKSTATION_STAFF, world.community_a1, username="both")
    from jiedao.accounts.services import grant_role

    grant_role(None, both, Role.GRID_WORKER, world.grid_a2x)
    both.clear_grant_cache()
    services.save_record(both, world.buildings["a1x"], floors=8)
    with pytest.raises(PermissionDenied):
        services.save_record(both, world.buildings["a2x"], floors=8)
    client.force_login(both)  # but both territories are readable
    assert client.get(f"/territory/buildings/{world.buildings['a2x'].pk}/").status_code == 200

    leader = role_users[Role.STREET_LEADER]
    grant_role(None, leader, Role.GRID_WORKER, world.grid_b1x)
    log_action(None, "test.in_b", world.grid_b1x)
    log_action(None, "test.in_a", world.grid_a1x)
    client.force_login(leader)
    actions = {entry.action for entry in client.get("/audit/").context["object_list"]}
    assert "test.in_a" in actions and "test.in_b" not in actions


@pytest.mark.parametrize("role", [r for r in ROLES if r != Role.RESIDENT])
def test_exports_follow_the_scope(client, world, role_users, role):
    from io import BytesIO

    from openpyxl import load_workbook

    _login(client, role_users[role])
    response = client.get("/territory/buildings/?format=xlsx")
    rows = list(load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))[1:]
    assert len(rows) == len(RECORD_GRIDS[role]), role


def test_figures_say_when_they_cover_part_of_a_node(client, world, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    data = client.get(f"/api/territory/communities/{world.community_a1.code}").json()
    assert data["partial"] is True and data["figures"]["buildings"] == 1
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    assert (
        client.get(f"/api/territory/communities/{world.community_a1.code}").json()["partial"]
        is False
    )

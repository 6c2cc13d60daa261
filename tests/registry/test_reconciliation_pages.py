"""The reconciliation page, its export and its buttons: every role × inside and outside its
territory (expectations written out by hand from domain.md §10)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from jiedao.accounts.roles import Role
from jiedao.core.scopes import unscoped
from jiedao.registry.models import ReconciliationSnapshot, Residence, Verification
from jiedao.registry.reconciliation import take_snapshots
from tests import factories as f
from tests.registry.reconciliation_fixtures import (
    dwellings_in,
    person,
    registered_households,
    residence,
    stale,
)

PAGE = reverse("registry:reconciliation")
EXPORT = reverse("registry:reconciliation_export")
RUN = reverse("registry:reconciliation_run")
WORKLIST = reverse("registry:reconciliation_worklist")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The rows each role sees by default (world attributes), or None for 403.
DEFAULT_ROWS: dict[str, list[str] | None] = {
    Role.RESIDENT: None,
    Role.GRID_WORKER: ["grid_a1x"],
    Role.WORKSTATION_STAFF: ["grid_a1x", "grid_a1y"],
    Role.COMMITTEE_MEMBER: ["grid_a1x", "grid_a1y"],
    Role.STREET_STAFF: ["community_a1", "community_a2"],
    Role.STREET_LEADER: ["community_a1", "community_a2"],
    Role.DEPARTMENT_STAFF: None,
    Role.DISTRICT_ADMIN: ["street_a", "street_b"],
    Role.SYSTEM_ADMIN: ["street_a", "street_b"],
}
# What ?node=<x> shows each reader: the rows, or 404 outside their territory.
NODE_ROWS: dict[str, dict[str, Any]] = {
    "community_a1": {
        Role.GRID_WORKER: ["grid_a1x"],
        Role.WORKSTATION_STAFF: ["grid_a1x", "grid_a1y"],
        Role.COMMITTEE_MEMBER: ["grid_a1x", "grid_a1y"],
        Role.STREET_STAFF: ["grid_a1x", "grid_a1y"],
        Role.STREET_LEADER: ["grid_a1x", "grid_a1y"],
        Role.DISTRICT_ADMIN: ["grid_a1x", "grid_a1y"],
        Role.SYSTEM_ADMIN: ["grid_a1x", "grid_a1y"],
    },
    "street_a": {
        Role.GRID_WORKER: ["community_a1"],
        Role.WORKSTATION_STAFF: ["community_a1"],
        Role.COMMITTEE_MEMBER: ["community_a1"],
        Role.STREET_STAFF: ["community_a1", "community_a2"],
        Role.STREET_LEADER: ["community_a1", "community_a2"],
        Role.DISTRICT_ADMIN: ["community_a1", "community_a2"],
        Role.SYSTEM_ADMIN: ["community_a1", "community_a2"],
    },
    "community_a2": {
        Role.GRID_WORKER: 404,
        Role.WORKSTATION_STAFF: 404,
        Role.COMMITTEE_MEMBER: 404,
        Role.STREET_STAFF: ["grid_a2x"],
        Role.STREET_LEADER: ["grid_a2x"],
        Role.DISTRICT_ADMIN: ["grid_a2x"],
        Role.SYSTEM_ADMIN: ["grid_a2x"],
    },
    "grid_a1y": {
        Role.GRID_WORKER: 404,
        Role.WORKSTATION_STAFF: ["grid_a1y"],
        Role.COMMITTEE_MEMBER: ["grid_a1y"],
        Role.STREET_STAFF: ["grid_a1y"],
        Role.STREET_LEADER: ["grid_a1y"],
        Role.DISTRICT_ADMIN: ["grid_a1y"],
        Role.SYSTEM_ADMIN: ["grid_a1y"],
    },
    "street_b": {
        Role.GRID_WORKER: 404,
        Role.WORKSTATION_STAFF: 404,
        Role.COMMITTEE_MEMBER: 404,
        Role.STREET_STAFF: 404,
        Role.STREET_LEADER: 404,
        Role.DISTRICT_ADMIN: ["community_b1"],
        Role.SYSTEM_ADMIN: ["community_b1"],
    },
}
READERS = sorted(NODE_ROWS["street_a"])
# Who may press the buttons on each node: the street's importers inside their territory, and
# the system administrator (a superuser holds every permission).
RUNNERS = {Role.STREET_STAFF, Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}


def codes(world, names):
    return [getattr(world, name).code for name in names]


@pytest.fixture
def client_en(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.mark.parametrize("role", list(Role))
def test_default_rows_per_role(client_en, world, role_users, role):
    client_en.force_login(role_users[role])
    response = client_en.get(PAGE)
    expected = DEFAULT_ROWS[role]
    if expected is None:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    assert [row.code for row in response.context["report"].rows] == codes(world, expected)


@pytest.mark.parametrize("role", READERS)
@pytest.mark.parametrize("node", sorted(NODE_ROWS))
def test_drilling_into_a_node_inside_and_outside(client_en, world, role_users, role, node):
    client_en.force_login(role_users[role])
    response = client_en.get(PAGE, {"node": getattr(world, node).code})
    expected = NODE_ROWS[node][role]
    if expected == 404:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    assert [row.code for row in response.context["report"].rows] == codes(world, expected)


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.DEPARTMENT_STAFF])
def test_department_and_resident_never_see_a_node(client_en, world, role_users, role):
    client_en.force_login(role_users[role])
    for url in (PAGE, EXPORT):
        assert client_en.get(url, {"node": world.community_a1.code}).status_code == 403


def test_unknown_node_and_anonymous(client_en, world, role_users):
    assert client_en.get(PAGE).status_code == 302  # to the sign-in page
    client_en.force_login(role_users[Role.STREET_STAFF])
    assert client_en.get(PAGE, {"node": "999999999999"}).status_code == 404
    assert client_en.get(PAGE, {"node": world.district.code}).status_code == 404


def test_counts_and_charts_of_a_community(client_en, world, role_users):
    registered_households(world.grid_a1x, total=28, consistent=15)
    take_snapshots()
    client_en.force_login(role_users[Role.WORKSTATION_STAFF])
    response = client_en.get(PAGE)
    page = response.content.decode()
    a1x, a1y = response.context["rows"]
    assert (a1x["registered_households"], a1x["consistent_households"]) == (28, 15)
    assert a1x["household_rate"] == "53.6\u00a0%"
    assert a1y["household_rate"] == "—"
    assert response.context["total"]["persons"] == 45
    bar = json.loads(response.context["bar_chart"])
    series = {s["name"]: s["data"] for s in bar["series"]}
    assert series[str(Residence.CONSISTENT.label)] == [16, 1]
    assert series[str(Residence.REGISTERED_NOT_LIVING.label)] == [28, 0]
    assert bar["yAxis"]["data"] == [world.grid_a1x.name, world.grid_a1y.name]
    trend = json.loads(response.context["trend_chart"])
    assert trend["xAxis"]["data"] == [timezone.localdate().isoformat()]
    assert trend["series"][1]["data"] == [53.6]
    assert 'data-chart="{&quot;grid&quot;' in page  # escaped JSON in the attribute
    assert "Reconcile now" not in page  # workstation staff do not run it


def test_the_export_is_the_table_with_a_total(client_en, world, role_users):
    from io import BytesIO

    from openpyxl import load_workbook

    registered_households(world.grid_a1x, total=28, consistent=15)
    registered_households(world.grid_b1x, total=3, consistent=3)
    client_en.force_login(role_users[Role.STREET_STAFF])
    response = client_en.get(EXPORT, {"node": world.community_a1.code})
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    sheet = load_workbook(BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == (
        "Grid",
        "code",
        "Registered households",
        "Consistent registered households",
        "Consistent households (%)",
    )
    assert rows[1][:5] == (world.grid_a1x.name, world.grid_a1x.code, 28, 15, 53.6)
    assert rows[-1][0] == "Total"
    assert rows[-1][2:4] == (28, 15)
    assert len(rows) == 4  # heading, two grids, total: nothing of street B


@pytest.mark.parametrize("role", list(Role))
def test_reconcile_now_per_role_on_street_a(client_en, world, role_users, role):
    stale(world.persons["a1x"])
    client_en.force_login(role_users[role])
    response = client_en.post(RUN, {"node": world.street_a.code})
    if role in RUNNERS:
        assert response.status_code == 302
        assert response["Location"] == f"{PAGE}?node={world.street_a.code}"
        assert residence(world.persons["a1x"]) == Residence.CONSISTENT
        with unscoped():
            assert ReconciliationSnapshot.objects.count() == 5
        return
    # Readers of street A who may not run it: 403; the others cannot even see it.
    assert response.status_code in (403, 404)
    if role in (Role.RESIDENT, Role.DEPARTMENT_STAFF, *READERS):
        assert response.status_code == 403
    assert residence(world.persons["a1x"]) == Residence.UNKNOWN


def test_buttons_outside_the_territory_and_without_a_node(client_en, world, role_users):
    stale(world.persons["b1x"])
    client_en.force_login(role_users[Role.STREET_STAFF])
    assert client_en.post(RUN, {"node": world.street_b.code}).status_code == 404
    assert client_en.post(WORKLIST, {"node": world.community_b1.code}).status_code == 404
    assert client_en.post(RUN, {}).status_code == 404
    assert client_en.get(RUN, {"node": world.street_a.code}).status_code == 405
    assert residence(world.persons["b1x"]) == Residence.UNKNOWN
    assert not Verification.all_objects.exists()


def test_create_worklist_button(client_en, world, role_users):
    home = dwellings_in(world.grid_a1y, 1)[0]
    registered_elsewhere = person(home, None)
    person(None, dwellings_in(world.grid_b1x, 1)[0])
    client_en.force_login(role_users[Role.STREET_LEADER])
    response = client_en.post(WORKLIST, {"node": world.community_a1.code}, follow=True)
    assert response.status_code == 200
    assert "1 person of 香水园社区 was put on" in response.content.decode()
    (opened,) = Verification.all_objects.all()
    assert opened.person == registered_elsewhere
    assert client_en.post(WORKLIST, {"node": world.community_a1.code}).status_code == 302
    assert Verification.all_objects.count() == 1
    # Street staff see the buttons; the page says so only for a node.
    page = client_en.get(PAGE).content.decode()
    assert "Reconcile now" in page and "Create verification worklist" in page


def test_street_page_shows_buttons_and_district_admin_runs_on_other_street(
    client_en, world, role_users
):
    district = role_users[Role.DISTRICT_ADMIN]
    client_en.force_login(district)
    page = client_en.get(PAGE)
    assert page.context["may_run"] is False  # the top: no single node to run it on
    assert client_en.post(RUN, {"node": world.street_b.code}).status_code == 302
    other = f.user_with_role(Role.STREET_STAFF, world.street_b, username="sb")
    client_en.force_login(other)
    assert client_en.post(RUN, {"node": world.street_a.code}).status_code == 404


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("node", ["community_a1", "community_a2", "street_b"])
def test_export_per_role_inside_and_outside(client_en, world, role_users, role, node):
    client_en.force_login(role_users[role])
    response = client_en.get(EXPORT, {"node": getattr(world, node).code})
    if DEFAULT_ROWS[role] is None:
        assert response.status_code == 403
    elif NODE_ROWS[node][role] == 404:
        assert response.status_code == 404
    else:
        assert response.status_code == 200
        assert response["Content-Type"] == XLSX


def test_a_grid_worker_counts_only_their_grid(client_en, world, role_users):
    registered_households(world.grid_a1x, total=2, consistent=1)
    registered_households(world.grid_a1y, total=5, consistent=5)
    take_snapshots()
    client_en.force_login(role_users[Role.GRID_WORKER])
    response = client_en.get(PAGE, {"node": world.community_a1.code})
    total = response.context["total"]
    assert (total["registered_households"], total["consistent_households"]) == (2, 1)
    assert total["persons"] == 1 + 1 + 2  # the world's person, one at home, two away
    trend = json.loads(response.context["trend_chart"])
    assert trend["series"][1]["data"] == [50.0]
    assert response.context["may_run"] is False

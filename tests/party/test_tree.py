"""The tree of a user's territory: counts own and in all, 双报到 not counted, flags, scope."""

from __future__ import annotations

import json
from datetime import date

import pytest

from jiedao.accounts.roles import Role
from jiedao.party import selectors, services
from jiedao.party.models import PartyMember
from tests import factories as f
from tests.party.conftest import people_in

pytestmark = pytest.mark.django_db


def by_name(roots) -> dict:
    return {node.organisation.name: node for node in selectors.flatten(roots)}


@pytest.fixture
def counted(world, party):
    """Three more members in A1x's building group and a 双报到 member in A1y."""
    for person in people_in(world.buildings["a1x"], 3):
        services.add_member(None, party.group_a1x, person)
    [reporting] = people_in(world.buildings["a1y"], 1)
    services.add_member(None, party.a1y, reporting, kind=PartyMember.Kind.REGISTERED)
    return party


def test_counts_add_up_from_the_building_groups_to_the_street(counted, role_users):
    nodes = by_name(selectors.tree(role_users[Role.STREET_STAFF]))
    group = nodes[counted.group_a1x.name]
    grid_x, grid_y = nodes[counted.a1x.name], nodes[counted.a1y.name]
    community, street = nodes[counted.a1.name], nodes[counted.street_a.name]
    assert (group.own.counted, group.total.counted) == (3, 3)
    assert (grid_x.own.counted, grid_x.total.counted) == (1, 4)
    assert (grid_y.own.counted, grid_y.total.counted, grid_y.total.registered) == (1, 1, 1)
    assert (community.own.counted, community.total.counted) == (0, 5)
    assert street.total.counted == 6 and street.total.registered == 1  # with A2x's member
    assert [child.organisation for child in community.children] == [counted.a1x, counted.a1y]


def test_each_node_carries_the_flags_of_its_size(counted, role_users):
    nodes = by_name(selectors.tree(role_users[Role.STREET_STAFF]))
    assert nodes[counted.a1x.name].flags == []  # a branch of 4
    assert [f.code for f in nodes[counted.a1y.name].flags] == ["too_few_for_branch"]
    assert [f.code for f in nodes[counted.a1.name].flags] == ["general_branch_below_50"]
    assert nodes[counted.street_a.name].flags == [] and nodes[counted.group_a1x.name].flags == []


def test_probationary_members_count_for_size_but_not_for_the_three_member_floor(
    world, party, role_users
):
    for person in people_in(world.buildings["a1y"], 2):
        services.add_member(None, party.a1y, person, status=PartyMember.Status.PROBATIONARY)
    [grid] = selectors.tree(role_users[Role.STREET_STAFF], under=party.a1y)
    assert (grid.total.counted, grid.total.full) == (3, 1)
    assert [flag.code for flag in grid.flags] == ["too_few_for_branch"]


def test_nobody_signed_in_sees_no_tree(party):
    assert selectors.tree(None) == []


@pytest.mark.parametrize(
    ("role", "roots"),
    [
        (Role.GRID_WORKER, ["a1x"]),
        (Role.WORKSTATION_STAFF, ["a1"]),
        (Role.COMMITTEE_MEMBER, ["a1"]),
        (Role.STREET_STAFF, ["street_a"]),
        (Role.STREET_LEADER, ["street_a"]),
        (Role.DISTRICT_ADMIN, ["street_a", "street_b"]),
        (Role.SYSTEM_ADMIN, ["street_a", "street_b"]),
        (Role.RESIDENT, []),
        (Role.DEPARTMENT_STAFF, []),
    ],
)
def test_the_tree_starts_at_the_top_of_the_users_territory(party, role_users, role, roots):
    forest = selectors.tree(role_users[role])
    assert [node.organisation for node in forest] == [getattr(party, key) for key in roots]


def test_a_community_user_sees_only_its_communitys_subtree(party, role_users):
    names = set(by_name(selectors.tree(role_users[Role.WORKSTATION_STAFF])))
    assert names == {party.a1.name, party.a1x.name, party.a1y.name, party.group_a1x.name}


def test_the_subtree_of_one_organisation(party, role_users):
    [node] = selectors.tree(role_users[Role.STREET_STAFF], under=party.a1x)
    assert node.organisation == party.a1x
    assert [child.organisation for child in node.children] == [party.group_a1x]
    members = selectors.subtree_members(role_users[Role.STREET_STAFF], node)
    assert {m.organisation_id for m in members} == {party.a1x.pk}


def test_the_chart_has_a_bar_per_sub_organisation(counted, role_users):
    [node] = selectors.tree(role_users[Role.STREET_STAFF], under=counted.a1)
    option = json.loads(selectors.children_chart(node))
    assert option["yAxis"]["data"] == [counted.a1x.name, counted.a1y.name]
    assert option["series"][0]["data"] == [4, 1]
    [leaf] = selectors.tree(role_users[Role.STREET_STAFF], under=counted.group_a1x)
    assert selectors.children_chart(leaf) == ""


def test_candidates_are_adults_of_the_territory_not_yet_members(world, party, role_users):
    [adult] = people_in(world.buildings["a1x"], 1)
    [child] = people_in(world.buildings["a1x"], 1, born=date(2015, 1, 1))
    actor = role_users[Role.WORKSTATION_STAFF]
    found = set(selectors.candidate_persons(actor, party.a1x))
    assert adult in found and child not in found and world.persons["a1x"] not in found
    assert set(selectors.candidate_persons(actor, party.group_a1x)) == {adult}
    assert list(selectors.candidate_persons(actor, party.a1x, q="不存在的名字")) == []


def test_open_child_nodes_leave_out_nodes_that_have_their_organisation(world, party):
    assert selectors.open_child_nodes(party.a1) == []
    new_grid = f.GridFactory(community=world.community_a1, code="110119001001005")
    assert selectors.open_child_nodes(party.a1) == [new_grid]
    assert selectors.open_child_nodes(party.a1x) == []
    assert selectors.open_child_nodes(party.group_a1x) == []  # groups have no level below

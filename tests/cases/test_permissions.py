"""Who may do what: each role inside its territory, and the same role outside it."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from jiedao.accounts.roles import Role
from jiedao.cases.models import Node
from jiedao.cases.services import transition
from tests import factories as f
from tests.cases.conftest import submit

pytestmark = pytest.mark.django_db

DISPATCH = {Role.STREET_STAFF, Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
# (setup path, action, data, handler, roles that may act) — the case is in grid A1x.
CASES = [
    ((), "register", {}, None, DISPATCH),
    (("register",), "dispatch", {}, None, DISPATCH),
    (
        ("register", "dispatch"),
        "acknowledge",
        {},
        "community",
        {Role.WORKSTATION_STAFF, Role.SYSTEM_ADMIN},
    ),
    (("register", "dispatch"), "acknowledge", {}, "street", {Role.STREET_STAFF, Role.SYSTEM_ADMIN}),
    (
        ("register", "dispatch"),
        "acknowledge",
        {},
        "department",
        {Role.DEPARTMENT_STAFF, Role.SYSTEM_ADMIN},
    ),
    (
        ("register", "dispatch", "acknowledge", "request_extension"),
        "approve_extension",
        {},
        None,
        {Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN},
    ),
    (
        ("register", "dispatch", "acknowledge", "start", "finish"),
        "verify",
        {},
        None,
        {Role.GRID_WORKER, Role.STREET_STAFF, Role.SYSTEM_ADMIN},
    ),
    (
        ("register", "dispatch", "acknowledge", "start", "finish", "verify", "close"),
        "callback",
        {"rating": "satisfied"},
        None,
        {Role.GRID_WORKER, Role.WORKSTATION_STAFF, Role.STREET_STAFF, Role.SYSTEM_ADMIN},
    ),
]


def prepare(world, categories, path, handler):
    case = submit(world.grid_a1x, categories["sanitation"])
    for action in path:
        data = {}
        if action == "dispatch" and handler:
            data = {"handler_type": handler, "department": world.department}
        transition(None, case, action, "说明", **data)
    return case


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("path,action,data,handler,allowed", CASES)
def test_roles_inside_their_territory(
    world, categories, role_users, role, path, action, data, handler, allowed
):
    case = prepare(world, categories, path, handler)
    if role in allowed:
        transition(role_users[role], case, action, "说明", **data)
        assert case.node != Node.RECEIVED
    else:
        before = case.node
        with pytest.raises(PermissionDenied):
            transition(role_users[role], case, action, "说明", **data)
        assert case.node == before


@pytest.mark.parametrize(
    "role,node_attr,path,action,handler",
    [
        (Role.STREET_STAFF, "street_b", (), "register", None),
        (
            Role.STREET_LEADER,
            "street_b",
            ("register", "dispatch", "acknowledge", "request_extension"),
            "approve_extension",
            None,
        ),
        (
            Role.GRID_WORKER,
            "grid_a1y",
            ("register", "dispatch", "acknowledge", "start", "finish"),
            "verify",
            None,
        ),
        (
            Role.WORKSTATION_STAFF,
            "community_a2",
            ("register", "dispatch"),
            "acknowledge",
            "community",
        ),
        (
            Role.DEPARTMENT_STAFF,
            "other_department",
            ("register", "dispatch"),
            "acknowledge",
            "department",
        ),
    ],
)
def test_the_same_roles_outside_their_territory_are_refused(
    world, categories, role, node_attr, path, action, handler
):
    case = prepare(world, categories, path, handler)
    outsider = f.user_with_role(role, getattr(world, node_attr), username=f"outsider-{role}")
    with pytest.raises(PermissionDenied):
        transition(outsider, case, action, "说明")


def test_a_workstation_cannot_act_for_a_case_sent_to_the_street(world, categories, role_users):
    """Territory alone is not enough for handler steps: the grant must be on the handler."""
    case = prepare(world, categories, ("register", "dispatch"), "street")
    with pytest.raises(PermissionDenied):
        transition(role_users[Role.WORKSTATION_STAFF], case, "acknowledge")


def test_a_grant_in_one_role_does_not_lend_its_territory_to_another(world, categories):
    """Street staff in street B and grid worker in A1x: may verify in A1x only as grid worker,
    and may not register there (that needs the street role on street A)."""
    from jiedao.accounts.models import RoleGrant

    user = f.user_with_role(Role.STREET_STAFF, world.street_b, username="mixed")
    RoleGrant.objects.create(user=user, role=Role.GRID_WORKER, grid=world.grid_a1x)
    user.clear_grant_cache()
    case = prepare(world, categories, (), None)
    with pytest.raises(PermissionDenied):
        transition(user, case, "register")


def test_anonymous_users_may_not_act(world, categories):
    from django.contrib.auth.models import AnonymousUser

    case = prepare(world, categories, (), None)
    with pytest.raises(PermissionDenied):
        transition(AnonymousUser(), case, "register")

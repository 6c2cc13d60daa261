"""Demo users: the fixed sign-ins of ``logins.DEMO_LOGINS`` plus the rest of the street's staff.

Extra staff get deterministic usernames (all with the demo password):
``gw-CCC-GGG`` a grid worker per grid, ``ws-CCC-N`` workstation staff (one per 300 households,
at least two) and ``cm-CCC-N`` resident-committee members (5-7) per community, ``st-NN`` street
staff, ``ld-N`` street leaders, ``dp-XXX-N`` two per department, ``da-1`` a district admin.
The password is hashed once and the hash shared: hashing each user with Argon2 would take
longer than generating the whole street."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import make_password

from jiedao.accounts.models import User
from jiedao.accounts.roles import Role
from jiedao.accounts.services import grant_role
from jiedao.demo.logins import DEMO_LOGINS, DEMO_PASSWORD
from jiedao.demo.people import NameMaker
from jiedao.territory.models import Community, Department, District, Grid, Street

ACTOR = "demo_world"
STREET_STAFF = 20
STREET_LEADERS = 3
PER_DEPARTMENT = 2


@dataclass(frozen=True)
class StaffSpec:
    username: str
    role: str
    node: Any
    display_name: str


@dataclass
class Territory:
    district: District
    street: Street
    communities: list[Community]
    grids: list[Grid]
    departments: list[Department]

    def node(self, key: str) -> Any:
        nodes = {
            "district": self.district,
            "street": self.street,
            "community1": self.communities[0],
            "grid1": self.grids[0],
            "department1": self.departments[0],
            "": None,
        }
        return nodes[key]


def staff_specs(
    territory: Territory, households: dict[int, int], rng: random.Random
) -> list[StaffSpec]:
    """The fixed demo logins first, then the rest of the staff, in a fixed order."""
    names = NameMaker(rng)

    def person() -> str:
        return names.full(rng.choice("MF"), rng.randint(1968, 1998))

    specs = [
        StaffSpec(d.username, d.role, territory.node(d.node), d.display_name) for d in DEMO_LOGINS
    ]
    for c_index, community in enumerate(territory.communities, start=1):
        for grid in (g for g in territory.grids if g.community_id == community.pk):
            specs.append(
                StaffSpec(f"gw-{c_index:03d}-{grid.code[-3:]}", Role.GRID_WORKER, grid, person())
            )
        for n in range(1, max(2, round(households.get(community.pk, 0) / 300)) + 1):
            specs.append(
                StaffSpec(f"ws-{c_index:03d}-{n}", Role.WORKSTATION_STAFF, community, person())
            )
        for n in range(1, rng.randint(5, 7) + 1):
            specs.append(
                StaffSpec(f"cm-{c_index:03d}-{n}", Role.COMMITTEE_MEMBER, community, person())
            )
    specs += [
        StaffSpec(f"st-{n:02d}", Role.STREET_STAFF, territory.street, person())
        for n in range(1, STREET_STAFF + 1)
    ]
    specs += [
        StaffSpec(f"ld-{n}", Role.STREET_LEADER, territory.street, person())
        for n in range(1, STREET_LEADERS + 1)
    ]
    for department in territory.departments:
        suffix = department.code.rsplit("-", 1)[-1].lower()
        specs += [
            StaffSpec(f"dp-{suffix}-{n}", Role.DEPARTMENT_STAFF, department, person())
            for n in range(1, PER_DEPARTMENT + 1)
        ]
    specs.append(StaffSpec("da-1", Role.DISTRICT_ADMIN, territory.district, person()))
    return specs


def create_staff(
    territory: Territory, households: dict[int, int], rng: random.Random
) -> tuple[int, list[str]]:
    """Create the users and grant their roles (through grant_role, so each grant is audited).
    Accounts that already exist are left as they are. Returns (users created, usernames skipped).
    Must run inside ``unscoped()``."""
    specs = staff_specs(territory, households, rng)
    existing = set(
        User.objects.filter(username__in=[s.username for s in specs]).values_list(
            "username", flat=True
        )
    )
    specs = [s for s in specs if s.username not in existing]
    password = make_password(DEMO_PASSWORD)
    users = [
        User(
            username=s.username,
            display_name=s.display_name,
            password=password,
            is_staff=s.role == Role.SYSTEM_ADMIN,
            is_superuser=s.role == Role.SYSTEM_ADMIN,
        )
        for s in specs
    ]
    User.objects.bulk_create(users, batch_size=500)
    by_name = {u.username: u for u in User.objects.filter(username__in=[s.username for s in specs])}
    for spec in specs:
        grant_role(ACTOR, by_name[spec.username], spec.role, spec.node)
    return len(users), sorted(existing)

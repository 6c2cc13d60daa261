"""What the demo street's grids are used for (多网融合) and who looks after each (domain.md §1).

Purposes follow what is in the grid, with a seeded random draw where the data cannot say:

* 综治 comprehensive governance: every grid (the grid is the unit of 综治 everywhere).
* 党建 party building: a grid whose grid-level party organisation has at least three members
  (a branch needs three, 中国共产党基层组织工作条例) — most grids once the party tree is built.
* 城管 city management: a grid with a commercial, mixed-use or public building, or with several
  enterprises (a shop street); a few others too (markets and street fronts the data does not
  model).
* 应急 emergency: grids by the 妫水 river (an address on a 妫水 road) and about half of the grids
  with a school, kindergarten or hospital.

Grid-worker assignments (``GridWorker``): every user granted the grid-worker role on a grid
looks after it, full-time for the first (the ``gridworker`` demo login first), part-time for any
other, since a date one to four years back.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Case, Count, Q, Value, When

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.core.scopes import unscoped
from jiedao.demo.logins import DEMO_LOGINS
from jiedao.party.models import Level, PartyMember, PartyOrganisation
from jiedao.territory.models import (
    Building,
    Grid,
    GridPurpose,
    GridWorker,
    Organisation,
    StandardAddress,
    Street,
)

PARTY_BRANCH_FROM = 3  # members a branch needs
CITY_ENTERPRISES = 3  # enterprises that make a grid a shop street
CITY_CHANCE = 0.15  # other grids with a market or street front
EMERGENCY_CHANCE = 0.5  # grids with a school, kindergarten or hospital
RIVER_ROAD = "妫水"  # 妫水北街, 妫水南街 run along the Guishui river through Yanqing
CROWDED_PLACES = ("小学", "中学", "幼儿园", "医院")
COMMERCIAL_USES = (Building.Use.COMMERCIAL, Building.Use.MIXED, Building.Use.PUBLIC)
SINCE_DAYS = (365, 4 * 365)  # assignments began one to four years before today


@dataclass
class GridFacts:
    party_members: int = 0
    commercial_buildings: int = 0
    enterprises: int = 0
    crowded: bool = False
    riverside: bool = False


def _street_grids(street: Street) -> list[Grid]:
    rows = Grid.all_objects.filter(community__street=street, retired_at__isnull=True)
    return list(rows.order_by("code"))


def grid_facts(street: Street) -> dict[str, GridFacts]:
    """What each grid of the street holds, read with a handful of grouped queries."""
    facts: dict[str, GridFacts] = defaultdict(GridFacts)
    prefix = street.code[:9]
    with unscoped():
        grid_orgs = PartyOrganisation.all_objects.filter(
            level=Level.GRID, territory_code__startswith=prefix
        ).values_list("territory_code", flat=True)
        members = (
            PartyMember.all_objects.filter(territory_code__in=list(grid_orgs))
            .values("territory_code")
            .annotate(n=Count("pk"))
        )
        for row in members:  # a branch's members, its building groups' included
            facts[row["territory_code"]].party_members = row["n"]
        buildings = (
            Building.all_objects.filter(territory_code__startswith=prefix, use__in=COMMERCIAL_USES)
            .values("territory_code")
            .annotate(n=Count("pk"))
        )
        for row in buildings:
            facts[row["territory_code"]].commercial_buildings = row["n"]
        organisations = Organisation.all_objects.filter(territory_code__startswith=prefix)
        enterprises = (
            organisations.filter(kind=Organisation.Kind.ENTERPRISE)
            .values("territory_code")
            .annotate(n=Count("pk"))
        )
        for row in enterprises:
            facts[row["territory_code"]].enterprises = row["n"]
        crowded = Q()
        for word in CROWDED_PLACES:
            crowded |= Q(name__contains=word)
        for code in organisations.filter(crowded).values_list("territory_code", flat=True):
            facts[code].crowded = True
        riverside = StandardAddress.all_objects.filter(
            territory_code__startswith=prefix, road__startswith=RIVER_ROAD
        )
        for code in riverside.values_list("territory_code", flat=True).distinct():
            facts[code].riverside = True
    return facts


def purposes_for(facts: GridFacts, rng: random.Random) -> list[str]:
    """One grid's purposes in ``GridPurpose`` order (the order the services store)."""
    chosen = {GridPurpose.GOVERNANCE}
    if facts.party_members >= PARTY_BRANCH_FROM:
        chosen.add(GridPurpose.PARTY)
    city_draw, emergency_draw = rng.random(), rng.random()  # drawn for every grid: stable
    if (
        facts.commercial_buildings
        or facts.enterprises >= CITY_ENTERPRISES
        or city_draw < CITY_CHANCE
    ):
        chosen.add(GridPurpose.CITY)
    if facts.riverside or (facts.crowded and emergency_draw < EMERGENCY_CHANCE):
        chosen.add(GridPurpose.EMERGENCY)
    return [p for p in GridPurpose.values if p in chosen]


def assign_purposes(street: Street, rng: random.Random) -> Counter[str]:
    """Set the purposes of every active grid of ``street``; the number of grids per purpose.
    Run after the buildings, organisations and party tree exist."""
    facts = grid_facts(street)
    tally: Counter[str] = Counter()
    with unscoped():
        for grid in _street_grids(street):
            purposes = purposes_for(facts[grid.code], rng)
            Grid.all_objects.filter(pk=grid.pk).update(purposes=purposes)
            tally.update(purposes)
    return tally


def assign_workers(street: Street, rng: random.Random, today: date) -> int:
    """A ``GridWorker`` row for every grid-worker grant on the street's grids that has none yet
    (bulk: ``territory_code`` is set here). Returns the rows created."""
    demo = [login.username for login in DEMO_LOGINS]
    with unscoped():
        grants = (
            RoleGrant.objects.filter(
                role=Role.GRID_WORKER,
                grid__community__street=street,
                grid__retired_at__isnull=True,
                revoked_at__isnull=True,
                user__is_active=True,
            )
            .annotate(
                demo_first=Case(When(user__username__in=demo, then=Value(0)), default=Value(1))
            )
            .order_by("grid__code", "demo_first", "user__username")
            .values_list("grid_id", "grid__code", "user_id")
        )
        taken = set(
            GridWorker.all_objects.filter(
                grid__community__street=street, until__isnull=True
            ).values_list("grid_id", "user_id")
        )
        rows, seen_grids = [], set()
        for grid_id, code, user_id in grants:
            first = grid_id not in seen_grids
            seen_grids.add(grid_id)
            since = today - timedelta(days=rng.randint(*SINCE_DAYS))
            if (grid_id, user_id) in taken:
                continue
            taken.add((grid_id, user_id))
            kind = GridWorker.Kind.FULL_TIME if first else GridWorker.Kind.PART_TIME
            rows.append(
                GridWorker(
                    grid_id=grid_id, user_id=user_id, kind=kind, since=since, territory_code=code
                )
            )
        GridWorker.all_objects.bulk_create(rows, batch_size=2000)
    return len(rows)

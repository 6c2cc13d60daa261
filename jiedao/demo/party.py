"""The demo street's party organisation (domain.md §6), shaped like s000's 香水园街道: a street
working committee, one organisation per community (8 general branches of 100+ members, 新兴西
with 438, and 3 branches), a branch per grid, a party group in each building with enough
members, and members drawn from the registry's adults.

Call it at the end of the world generation, inside its transaction::

    from jiedao.demo.party import build_party_tree
    counts = build_party_tree(self.street, random.Random(f"{self.plan.seed}:party"))

A community never gets more members than half its adults, so at small scales the figures
shrink; 新兴西 keeps 100+ (and so its "a party committee may be set up" flag) from about 200
adults, which a world of --scale 0.02 already has."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction

from jiedao.core.scopes import unscoped
from jiedao.demo.people import REFERENCE_DATE, NameMaker
from jiedao.party.models import FORM_SUFFIX, Form, Level, PartyMember, PartyOrganisation
from jiedao.registry.models import CareGroup, CareTag, Person
from jiedao.territory.models import Building, Community, Grid, Street

STREET_FOUNDED = date(2009, 10, 1)  # s000: the working committee was set up in October 2009
# (members, form) of the 11 communities in places.COMMUNITY_NAMES order (s000: 8 general
# branches, all with 100+ members, three with 150+, 新兴西 438; 3 branches; 1,600-odd members).
COMMUNITY_SHAPES: tuple[tuple[int, str], ...] = (
    (146, Form.GENERAL_BRANCH),
    (438, Form.GENERAL_BRANCH),
    (176, Form.GENERAL_BRANCH),
    (153, Form.GENERAL_BRANCH),
    (139, Form.GENERAL_BRANCH),
    (127, Form.GENERAL_BRANCH),
    (118, Form.GENERAL_BRANCH),
    (109, Form.GENERAL_BRANCH),
    (96, Form.BRANCH),
    (62, Form.BRANCH),
    (47, Form.BRANCH),
)
MAX_SHARE_OF_ADULTS = 0.5
BUILDING_GROUP_FROM = 5  # members living in a building before it gets its own party group
REGISTERED_SHARE = 0.08  # serving members reporting under 双报到, on top of the counted ones
PROBATIONARY_SHARE = 0.03
ADULT_AGE = 18


@dataclass(frozen=True)
class Adult:
    person_id: int
    grid_code: str
    building_id: int | None
    birth_date: date
    name: str


@dataclass(frozen=True)
class Pick:
    adult: Adult
    kind: str


def build_party_tree(
    street: Street, rng: random.Random, *, tag_in_registry: bool = True
) -> dict[str, int]:
    """Build the party organisation of ``street`` from its communities, grids, buildings and
    persons (which must exist) and return the rows created per model name. With
    ``tag_in_registry`` every member also gets the registry's 党员 care tag (if not tagged)."""
    builder = _TreeBuilder(street, rng)
    with unscoped(), transaction.atomic():
        builder.build()
        if tag_in_registry:
            builder.tag_members()
    return dict(builder.created)


class _TreeBuilder:
    def __init__(self, street: Street, rng: random.Random) -> None:
        self.street, self.rng = street, rng
        self.names = NameMaker(rng)
        self.created: Counter[str] = Counter()
        self.picks: list[Pick] = []
        self.members: list[PartyMember] = []
        self.groups: list[PartyOrganisation] = []

    def build(self) -> None:
        root = self._save(
            PartyOrganisation(
                level=Level.STREET,
                form=Form.WORKING_COMMITTEE,
                name=f"{self.street.name}{FORM_SUFFIX[Form.WORKING_COMMITTEE]}",
                secretary=self.names.full(self.rng.choice("MF"), self.rng.randint(1966, 1978)),
                founded_on=STREET_FOUNDED,
                territory_code=self.street.code,
            )
        )
        communities = Community.all_objects.filter(street=self.street).order_by("code")
        for index, community in enumerate(communities):
            self._community(index, community, root)
        PartyOrganisation.all_objects.bulk_create(self.groups, batch_size=2000)
        self.created["partyorganisation"] += len(self.groups)
        PartyMember.all_objects.bulk_create(self.members, batch_size=2000)
        self.created["partymember"] += len(self.members)

    def _community(self, index: int, community: Community, root: PartyOrganisation) -> None:
        target, form = self._shape(index)
        adults = _adults(community)
        picks = self._pick(adults, min(target, int(len(adults) * MAX_SHARE_OF_ADULTS)))
        counted = [p for p in picks if p.kind == PartyMember.Kind.RESIDENT]
        org = self._save(
            PartyOrganisation(
                level=Level.COMMUNITY,
                form=form,
                name=f"{community.name}{FORM_SUFFIX[form]}",
                parent=root,
                secretary=counted[0].adult.name if counted else "",
                founded_on=STREET_FOUNDED + timedelta(days=self.rng.randint(20, 400)),
                territory_code=community.code,
            )
        )
        by_grid: dict[str, list[Pick]] = defaultdict(list)
        for pick in picks:
            by_grid[pick.adult.grid_code].append(pick)
        for grid in Grid.all_objects.filter(community=community).order_by("code"):
            self._grid(grid, org, by_grid.get(grid.code, []))

    def _shape(self, index: int) -> tuple[int, str]:
        if index < len(COMMUNITY_SHAPES):
            return COMMUNITY_SHAPES[index]
        target = self.rng.randint(40, 180)  # communities beyond s000's eleven (--scale > 1)
        return target, Form.GENERAL_BRANCH if target >= 50 else Form.BRANCH

    def _pick(self, adults: list[Adult], target: int) -> list[Pick]:
        """Already tagged party members first, then a random draw; 双报到 members on top."""
        tagged_ids = _tagged_ids([a.person_id for a in adults])
        tagged = [a for a in adults if a.person_id in tagged_ids]
        rest = [a for a in adults if a.person_id not in tagged_ids]
        self.rng.shuffle(tagged)  # ids run grid by grid: a prefix would fill the first grids
        self.rng.shuffle(rest)
        tagged = tagged[:target]
        chosen = tagged + rest[: target - len(tagged)]
        spare = rest[target - len(tagged) :]
        registered = spare[: round(target * REGISTERED_SHARE)]
        return [Pick(a, PartyMember.Kind.RESIDENT) for a in chosen] + [
            Pick(a, PartyMember.Kind.REGISTERED) for a in registered
        ]

    def _grid(self, grid: Grid, community_org: PartyOrganisation, picks: list[Pick]) -> None:
        counted = [p for p in picks if p.kind == PartyMember.Kind.RESIDENT]
        form = Form.GENERAL_BRANCH if len(counted) >= 50 else Form.BRANCH
        org = self._save(
            PartyOrganisation(
                level=Level.GRID,
                form=form,
                name=f"{grid.name}{FORM_SUFFIX[form]}",
                parent=community_org,
                secretary=counted[0].adult.name if counted else "",
                founded_on=community_org.founded_on,
                territory_code=grid.code,
            )
        )
        in_building = Counter(p.adult.building_id for p in counted if p.adult.building_id)
        groups = {
            building.pk: self._group(building, org, _first_name_in(counted, building.pk))
            for building in Building.all_objects.filter(grid=grid).order_by("name", "pk")
            if in_building[building.pk] >= BUILDING_GROUP_FROM
        }
        for pick in picks:
            self._member(pick, groups.get(pick.adult.building_id or 0, org))

    def _member(self, pick: Pick, org: PartyOrganisation) -> None:
        status, joined = self._membership(pick.adult.birth_date)
        self.picks.append(pick)
        self.members.append(
            PartyMember(
                person_id=pick.adult.person_id,
                organisation=org,
                kind=pick.kind,
                status=status,
                joined_on=joined,
                territory_code=org.territory_code,
            )
        )

    def _membership(self, born: date) -> tuple[str, date]:
        """Status and date of joining, never before the 18th birthday: a probationary member
        joined within the last year, so the youngest adults are probationary."""
        adult_on = _birthday(born, ADULT_AGE)
        full_by = REFERENCE_DATE - timedelta(days=400)
        if adult_on > full_by or self.rng.random() < PROBATIONARY_SHARE:
            first = max(adult_on, REFERENCE_DATE - timedelta(days=360))
            span = (REFERENCE_DATE - timedelta(days=10) - first).days
            return PartyMember.Status.PROBATIONARY, first + timedelta(
                days=self.rng.randint(0, max(0, span))
            )
        first = max(adult_on, date(1950, 1, 1))
        return PartyMember.Status.FULL, first + timedelta(
            days=self.rng.randint(0, (full_by - first).days)
        )

    def _group(
        self, building: Building, grid_org: PartyOrganisation, secretary: str
    ) -> PartyOrganisation:
        """A building's party group, written in bulk with the others (many, and right by
        construction; the database constraints still hold them)."""
        group = PartyOrganisation(
            level=Level.BUILDING,
            form=Form.GROUP,
            name=f"{building.name}{FORM_SUFFIX[Form.GROUP]}",
            parent=grid_org,
            building=building,
            secretary=secretary,
            founded_on=grid_org.founded_on,
            territory_code=grid_org.territory_code,
        )
        self.groups.append(group)
        return group

    def _save(self, org: PartyOrganisation) -> PartyOrganisation:
        # Levels, parents and forms are checked; the constraints' own queries are left to the
        # database (on SQLite each would cost a query per organisation).
        org.full_clean(validate_constraints=False)
        org.save()
        self.created["partyorganisation"] += 1
        return org

    def tag_members(self) -> None:
        tags = [
            CareTag(
                person_id=member.person_id,
                group=CareGroup.PARTY_MEMBER,
                since=member.joined_on or REFERENCE_DATE,
                territory_code=pick.adult.grid_code,
            )
            for pick, member in zip(self.picks, self.members, strict=True)
        ]
        before = CareTag.all_objects.filter(group=CareGroup.PARTY_MEMBER).count()
        CareTag.all_objects.bulk_create(tags, batch_size=2000, ignore_conflicts=True)
        after = CareTag.all_objects.filter(group=CareGroup.PARTY_MEMBER).count()
        self.created["caretag"] += after - before


def _birthday(born: date, age: int) -> date:
    try:
        return born.replace(year=born.year + age)
    except ValueError:  # 29 February
        return born.replace(year=born.year + age, day=28)


def _adults(community: Community) -> list[Adult]:
    """The community's adults who live there (not those only registered there), in a stable
    order (by id), so a seed gives the same members."""
    born_by = date(REFERENCE_DATE.year - ADULT_AGE, REFERENCE_DATE.month, REFERENCE_DATE.day)
    rows = (
        Person.all_objects.filter(
            territory_code__startswith=community.code,
            birth_date__lte=born_by,
            dwelling__isnull=False,
        )
        .order_by("pk")
        .values_list("pk", "territory_code", "dwelling__building_id", "birth_date", "name")
    )
    return [Adult(*row) for row in rows]


def _tagged_ids(person_ids: list[int]) -> set[int]:
    tagged = CareTag.all_objects.filter(group=CareGroup.PARTY_MEMBER).values_list(
        "person_id", flat=True
    )
    wanted = set(person_ids)
    return {pk for pk in tagged if pk in wanted}


def _first_name_in(picks: list[Pick], building_id: int) -> str:
    return next((p.adult.name for p in picks if p.adult.building_id == building_id), "")

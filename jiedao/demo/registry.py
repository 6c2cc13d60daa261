"""The population registry of the demo world (domain.md §2): both sources, 人户分离, care
groups, visits, verification worklists and a year of reconciliation snapshots.

``CommunityRegistry`` turns one community's dwellings into households and persons:

- self-occupied: the owners' residing household (居住户); their 户籍 is here (a registered
  household with a 户号: 人户一致), or elsewhere (人在户不在), sometimes in another home of the
  community that they left;
- rented: the tenants' residing household (人在户不在, mostly floating population) and a Tenancy;
- any home may also carry the 户籍 of people who moved away (户在人不在): former owners,
  landlords, 空挂户; and registered families may have a member who lives elsewhere.

Each community gets a ``Profile``: most are ordinary, one in eleven is an old town like s001's
古塘 (registered households about twice the consistent ones) and one a new estate like 旦苑
(few registered households, many owner-occupiers registered elsewhere).

Everything is decided in memory (deterministic from the seed; dates count back from the run's
``now``), then written without ``save()`` (``CommunityRegistry.write``), so territory codes,
initials, blind indexes and the classification are filled here (``services.fill_derived``).
Users do not exist yet when communities are written: ``assign_grid_workers`` puts each grid's
grid worker on its visits and verifications once the staff exist.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection, connections, models, router
from django.db.models import Case, F, Max, OuterRef, Subquery, Value, When
from django.db.models.functions import JSONArray, JSONObject
from django.utils import timezone
from stdnum.cn import ric

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.core.crypto import encrypt
from jiedao.core.fields import EncryptedTextField
from jiedao.core.scopes import code_within
from jiedao.demo.cases import insert_objects, reset_sequences
from jiedao.demo.logins import DEMO_LOGINS
from jiedao.demo.people import (
    PARENT,
    SPOUSE,
    TENANT_AGE_BANDS,
    TENANT_SIZES,
    HouseholdMaker,
    NameMaker,
    Resident,
)
from jiedao.registry import services
from jiedao.registry.models import (
    CareGroup,
    CareTag,
    Household,
    Person,
    PersonVersion,
    ReconciliationSnapshot,
    Residence,
    Tenancy,
    Verification,
    Visit,
)
from jiedao.territory.models import Dwelling, Grid

CONSISTENT = Residence.CONSISTENT.value
LIVES = Residence.LIVES_NOT_REGISTERED.value
AWAY = Residence.REGISTERED_NOT_LIVING.value
GONE = Residence.GONE.value
MISMATCHED = (LIVES, AWAY)

IMPORTED_DAYS_AGO = 400  # both sources were imported before the first monthly snapshot
SNAPSHOT_MONTHS = 12
ELDERLY_AGE = 70
ADULT_AGE = 18
WEEKLY = 7
OVERDUE_SHARE = (0.10, 0.15)  # of a grid's weekly visits, overdue today
VISIT_WEEKS = (4, 8)  # weekly visits on record per elderly person living alone
OPEN_SHARE, OPEN_BOUNDS = 0.06, (10, 30)  # of a grid's mismatches on today's worklist
DONE_SHARE = 0.30  # of a grid's mismatches verified over the last year
# What door-to-door verification found, by the status the two sources gave.
RESULTS: dict[str, tuple[tuple[str, float], ...]] = {
    AWAY: ((AWAY, 0.50), (CONSISTENT, 0.25), (GONE, 0.25)),
    LIVES: ((LIVES, 0.65), (CONSISTENT, 0.20), (GONE, 0.15)),
}
VERIFICATION_NOTES = {
    (AWAY, AWAY): "入户核实：本人已搬离，户籍仍在本户，联系方式已登记。",
    (AWAY, CONSISTENT): "入户核实：本人实际居住在户籍地址，居住登记已补录。",
    (AWAY, GONE): "入户核实：本人已迁出，户籍迁移手续在办，本户无人居住。",
    (LIVES, LIVES): "入户核实：本人在此居住，户籍在外地，已登记居住信息。",
    (LIVES, CONSISTENT): "入户核实：本人户籍已迁入本址，信息已更正。",
    (LIVES, GONE): "入户核实：本人已搬走，房屋现由他人居住。",
}
CARE_NOTES = (
    "身体状况良好，已提醒按时服药。",
    "老人精神不错，家中水电燃气正常。",
    "血压偏高，已联系社区卫生站随访。",
    "行动不便，已登记助餐服务需求。",
    "子女本周来过，生活用品充足。",
    "天气转凉，提醒注意保暖，检查了暖气。",
)
# Care groups (other than 独居老人 and 流动人口): share of the eligible, and who is eligible.
# Party members (党员) are tagged by demo/party.py, with their party membership.
DISABLED_SHARE = (0.015, 0.06)  # under 60, 60 and over
SUBSISTENCE_HOUSEHOLD_SHARE = 0.012  # of local households (低保 needs the 户籍 here)
VETERAN_SHARE = {"M": 0.035, "F": 0.002}  # of people 35-85
SHARE_4050 = 0.04  # of local women 40-49 and men 50-59
VOLUNTEER_SHARE = ((18, 55, 0.03), (55, 76, 0.10))
MINOR_SHARE = 0.004

# Where people registered outside this street have their 户籍: region codes and places.
DISTRICT_TOWNS = ("康庄镇", "八达岭镇", "永宁镇", "旧县镇", "张山营镇", "沈家营镇", "大榆树镇")
BEIJING_DISTRICTS = (
    ("110101", "北京市东城区"),
    ("110102", "北京市西城区"),
    ("110105", "北京市朝阳区"),
    ("110106", "北京市丰台区"),
    ("110108", "北京市海淀区"),
    ("110114", "北京市昌平区"),
    ("110116", "北京市怀柔区"),
)
PROVINCES = (
    ("130730", "河北省张家口市怀来县"),
    ("130732", "河北省张家口市赤城县"),
    ("130705", "河北省张家口市宣化区"),
    ("130824", "河北省承德市滦平县"),
    ("140213", "山西省大同市平城区"),
    ("150902", "内蒙古自治区乌兰察布市集宁区"),
    ("211322", "辽宁省朝阳市建平县"),
    ("231202", "黑龙江省绥化市北林区"),
    ("341221", "安徽省阜阳市临泉县"),
    ("371721", "山东省菏泽市曹县"),
    ("411425", "河南省商丘市虞城县"),
    ("411625", "河南省周口市郸城县"),
    ("421181", "湖北省黄冈市麻城市"),
    ("511302", "四川省南充市顺庆区"),
    ("620502", "甘肃省天水市秦州区"),
)
PLACE_ROADS = ("建设路", "人民路", "解放街", "朝阳路", "新华街", "胜利路", "文化路", "幸福巷")
# Where people registered elsewhere come from: this district, elsewhere in Beijing, a province.
ORIGINS = {
    "owner": (0.40, 0.35, 0.25),
    "tenant": (0.15, 0.20, 0.65),
    "married_in": (0.30, 0.20, 0.50),
}
PHONE_PREFIXES = (
    *(f"13{d}" for d in range(10)),
    *(f"15{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)),
    *(f"18{d}" for d in range(10)),
    "166",
    "173",
    "177",
    "199",
)
STALE_SIZES = ((1, 0.30), (2, 0.35), (3, 0.25), (4, 0.10))


@dataclass(frozen=True)
class Profile:
    """How 户籍 and residence diverge in one community (shares of dwellings or families)."""

    kind: str
    owners_registered: float  # owner-occupiers whose 户籍 is at their home
    married_in: float  # a registered family's adult whose 户籍 stayed where they came from
    split: float  # a registered family with members who live elsewhere
    split_members: tuple[int, ...]  # how many (one picked at random)
    stale: dict[str, float]  # by dwelling use: the home carries the 户籍 of people who left
    extra_stale: float  # a home with such a household carries a second one (空挂户)
    moved_within: float  # owners registered elsewhere whose 户籍 is in a home they left here


ORDINARY = Profile(
    kind="ordinary",
    owners_registered=0.95,
    married_in=0.03,
    split=0.14,
    split_members=(1, 1, 1, 2),
    stale={Dwelling.Use.SELF_OCCUPIED: 0.05, Dwelling.Use.RENTED: 0.40, Dwelling.Use.VACANT: 0.6},
    extra_stale=0.05,
    moved_within=0.35,
)
# s001: 古塘 has 2,800 registered households but only ~1,500 consistent ones.
OLD_TOWN = Profile(
    kind="old_town",
    owners_registered=0.90,
    married_in=0.04,
    split=0.15,
    split_members=(1, 1, 2),
    stale={Dwelling.Use.SELF_OCCUPIED: 0.55, Dwelling.Use.RENTED: 0.9, Dwelling.Use.VACANT: 0.9},
    extra_stale=0.25,
    moved_within=0.40,
)
# s001: 旦苑 has 438 registered households but 2,260 owner-occupied ones.
NEW_ESTATE = Profile(
    kind="new_estate",
    owners_registered=0.20,
    married_in=0.03,
    split=0.08,
    split_members=(1, 1, 1, 2),
    stale={Dwelling.Use.SELF_OCCUPIED: 0.02, Dwelling.Use.RENTED: 0.15, Dwelling.Use.VACANT: 0.2},
    extra_stale=0.0,
    moved_within=0.10,
)


def profile_for(index: int, rng: random.Random) -> Profile:
    """The second community of every eleven is an old town, the third a new estate; the others
    are ordinary, each a little different."""
    if index % 11 == 1:
        return OLD_TOWN
    if index % 11 == 2:
        return NEW_ESTATE
    jitter = rng.uniform(-1.0, 1.0)
    return Profile(
        kind="ordinary",
        owners_registered=ORDINARY.owners_registered + 0.03 * jitter,
        married_in=ORDINARY.married_in,
        split=ORDINARY.split - 0.05 * jitter,
        split_members=ORDINARY.split_members,
        stale={use: share * (1 - 0.3 * jitter) for use, share in ORDINARY.stale.items()},
        extra_stale=ORDINARY.extra_stale,
        moved_within=ORDINARY.moved_within,
    )


def identity_number(region: str, birth_date: date, serial: int) -> str:
    """Region, birth date, a three-digit sequence (odd for men) and the MOD 11-2 check digit.
    (core.identity.make_identity_number hands stdnum 17 characters where it wants 18, so its
    check digit is wrong: stdnum's calc_check_digit skips the last character it is given.)"""
    body = f"{region[:6]}{birth_date:%Y%m%d}{serial % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


class Identities:
    """Identity numbers and mobile numbers, unique across the whole world."""

    def __init__(self) -> None:
        self.numbers: set[str] = set()
        self.phones: set[str] = set()

    def number(self, region: str, birth_date: date, sex: str, rng: random.Random) -> str:
        while True:
            serial = rng.randrange(500) * 2 + (1 if sex == Person.Sex.MALE else 0)
            number = identity_number(region, birth_date, serial)
            if number not in self.numbers:
                self.numbers.add(number)
                return number

    def phone(self, rng: random.Random) -> str:
        while True:
            number = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number


@dataclass
class Entry:
    """A person being generated, with what the care groups and snapshots need."""

    person: Person
    age: int
    floating: bool = False  # registered in another province
    found: str = ""  # status from the two sources, before any verification
    verification: tuple[datetime, str] | None = None  # (when, result), if verified


@dataclass
class Family:
    household: Household
    dwelling: Dwelling
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Origin:
    """Where a family registered outside the street has its 户籍."""

    region: str
    address: str
    province: bool


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def month_starts(today: date, months: int) -> list[date]:
    """The first day of each of the ``months`` months before ``today``'s month, oldest first."""
    year, month = today.year, today.month
    starts = []
    for _ in range(months):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        starts.append(date(year, month, 1))
    return starts[::-1]


class RegistryWorld:
    """What the communities share: seed, clock, unique numbers, household numbers."""

    def __init__(self, seed: int, district_code: str, now: datetime | None = None) -> None:
        self.seed = seed
        self.region = district_code[:6]
        self.now = now or timezone.now()
        self.today = timezone.localdate(self.now)
        self.imported = self.now - timedelta(days=IMPORTED_DAYS_AGO)
        self.identities = Identities()

    def community(
        self,
        index: int,
        community_code: str,
        initials: Callable[[str], str],
    ) -> CommunityRegistry:
        rng = random.Random(f"{self.seed}:registry:{index}")
        return CommunityRegistry(self, community_code, profile_for(index, rng), rng, initials)


class CommunityRegistry:
    """Plans one community's registry in memory (``plan``) and writes it (``write``)."""

    def __init__(
        self,
        world: RegistryWorld,
        community_code: str,
        profile: Profile,
        rng: random.Random,
        initials: Callable[[str], str],
    ) -> None:
        self.world, self.code, self.profile, self.rng = world, community_code, profile, rng
        self.initials = initials
        self.maker = HouseholdMaker(rng)
        self.names = NameMaker(rng)
        self.registered: list[Family] = []
        self.residing: list[Family] = []
        self.tenancies: list[Tenancy] = []
        self.entries: list[Entry] = []
        self.moved_out: list[Family] = []  # registered families living elsewhere (so far)
        self.verifications: list[Verification] = []
        self.visits: list[Visit] = []
        self.care_tags: list[CareTag] = []
        self.family_of: dict[int, Family] = {}  # registered families by id() of the household
        self.number = 0

    # --- planning ------------------------------------------------------------------------
    def plan(self, dwellings: Iterable[Dwelling]) -> None:
        for dwelling in dwellings:
            if dwelling.use == Dwelling.Use.SELF_OCCUPIED:
                self._owners(dwelling)
            elif dwelling.use == Dwelling.Use.RENTED:
                self._tenants(dwelling)
            if dwelling.use in self.profile.stale:
                self._stale(dwelling)
        for entry in self.entries:
            entry.found = services.residence_of(entry.person)
        self._verify()
        for entry in self.entries:
            services.fill_derived(entry.person)
        self._care()

    def _owners(self, dwelling: Dwelling) -> None:
        rng, profile = self.rng, self.profile
        if rng.random() < profile.owners_registered:
            members = self.maker.members(self.maker.size())
            registered = self._registered_household(dwelling)
            residing = self._residing_household(dwelling)
            for member in members:
                married_in = member.relation in (SPOUSE, PARENT)
                if married_in and rng.random() < profile.married_in:
                    self._person(member, residing, dwelling, origin=self._origin("married_in"))
                else:
                    self._person(member, residing, dwelling, registered=registered)
            if rng.random() < profile.split:
                for _ in range(rng.choice(profile.split_members)):
                    self._person(self.maker.relative_away(members), registered=registered)
            return
        residing = self._residing_household(dwelling)
        if self.moved_out and rng.random() < profile.moved_within:
            family = self.moved_out.pop(rng.randrange(len(self.moved_out)))
            for entry in family.entries:  # they moved here; their 户籍 stayed in the old home
                entry.person.dwelling_id = dwelling.pk
                entry.person.territory_code = dwelling.territory_code
                entry.person.household = residing.household
                residing.entries.append(entry)
            return
        origin = self._origin("owner")
        for member in self.maker.members(self.maker.size()):
            self._person(member, residing, dwelling, origin=origin)

    def _tenants(self, dwelling: Dwelling) -> None:
        residing = self._residing_household(dwelling)
        origin = self._origin("tenant")
        members = self.maker.members(self.maker.size(TENANT_SIZES), TENANT_AGE_BANDS)
        for member in members:
            self._person(member, residing, dwelling, origin=origin)
        # Before the sources were imported: the imported tenants lived here already.
        starts = timezone.localdate(self.world.imported) - timedelta(
            days=self.rng.randint(10, 2200)
        )
        term = self.rng.choice((1, 1, 2, 3))
        ends = None
        if self.rng.random() < 0.7:
            years = max(term, (self.today.year - starts.year) // term * term + term)
            ends = starts.replace(year=starts.year + years, day=min(starts.day, 28))
        self.tenancies.append(
            Tenancy(
                dwelling_id=dwelling.pk,
                household=residing.household,
                landlord_name=self.names.full(self.rng.choice("MF"), self.rng.randint(1950, 1985)),
                starts_on=starts,
                ends_on=ends,
                territory_code=dwelling.territory_code,
            )
        )

    def _stale(self, dwelling: Dwelling) -> None:
        """户籍 left behind by people who no longer live here (户在人不在)."""
        rng = self.rng
        if rng.random() >= self.profile.stale[dwelling.use]:
            return
        count = 2 if rng.random() < self.profile.extra_stale else 1
        for _ in range(count):
            registered = self._registered_household(dwelling)
            for member in self.maker.members(self.maker.size(STALE_SIZES)):
                self._person(member, registered=registered)
            self.moved_out.append(registered)
        if dwelling.use == Dwelling.Use.RENTED:  # the landlord's family kept its 户籍 here
            self.tenancies[-1].landlord_name = self.registered[-1].entries[0].person.name

    @property
    def today(self) -> date:
        return self.world.today

    def _registered_household(self, dwelling: Dwelling) -> Family:
        self.number += 1
        household = Household(
            dwelling_id=dwelling.pk,
            kind=Household.Kind.REGISTERED,
            number=f"{self.code[-6:]}{self.number:05d}",
            territory_code=dwelling.territory_code,
        )
        family = Family(household, dwelling)
        self.registered.append(family)
        self.family_of[id(household)] = family
        return family

    def _residing_household(self, dwelling: Dwelling) -> Family:
        household = Household(
            dwelling_id=dwelling.pk,
            kind=Household.Kind.RESIDING,
            territory_code=dwelling.territory_code,
        )
        family = Family(household, dwelling)
        self.residing.append(family)
        return family

    def _origin(self, who: str) -> Origin:
        rng = self.rng
        place = rng.choices(("district", "beijing", "province"), ORIGINS[who])[0]
        number = f"{rng.choice(PLACE_ROADS)}{rng.randint(1, 260)}号"
        if place == "district":
            town = rng.choice(DISTRICT_TOWNS)
            return Origin(self.world.region, f"北京市延庆区{town}{number}", False)
        region, name = rng.choice(BEIJING_DISTRICTS if place == "beijing" else PROVINCES)
        return Origin(region, f"{name}{number}", place == "province")

    def _person(
        self,
        member: Resident,
        residing: Family | None = None,
        dwelling: Dwelling | None = None,
        *,
        registered: Family | None = None,
        origin: Origin | None = None,
    ) -> Entry:
        rng = self.rng
        region = origin.region if origin else self.world.region
        age = age_on(member.birth_date, self.today)
        person = Person(
            name=member.name,
            initials=self.initials(member.name),
            sex=member.sex,
            birth_date=member.birth_date,
            identity_number=self.world.identities.number(
                region, member.birth_date, member.sex, rng
            ),
            phone=self.world.identities.phone(rng) if age >= ADULT_AGE else "",
            registered_address=origin.address if origin else "",
            relation=member.relation,
            household=residing.household if residing else None,
            dwelling_id=dwelling.pk if dwelling else None,
            registered_household=registered.household if registered else None,
            registered_dwelling_id=registered.household.dwelling_id if registered else None,
            updated_at=self.world.imported,
            territory_code=_home(dwelling, registered).territory_code,
        )
        entry = Entry(person, age, floating=bool(origin and origin.province))
        self.entries.append(entry)
        for family in (residing, registered):
            if family is not None:
                family.entries.append(entry)
        return entry

    # --- verification, care groups, visits --------------------------------------------------
    def _at(self, day: date) -> datetime:
        """A moment of a working day (visits happen between 8:30 and 17:30)."""
        minute = self.rng.randint(8 * 60 + 30, 17 * 60 + 30)
        return timezone.make_aware(datetime.combine(day, time(minute // 60, minute % 60)))

    def _verify(self) -> None:
        """Per grid, a year of door-to-door verification of some mismatches (their findings
        outrank the sources) and today's worklist of open ones."""
        rng = self.rng
        by_grid: dict[str, list[Entry]] = defaultdict(list)
        for entry in self.entries:
            if entry.found in MISMATCHED:
                by_grid[entry.person.territory_code].append(entry)
        for code in sorted(by_grid):
            mismatched = by_grid[code]
            rng.shuffle(mismatched)
            done = round(DONE_SHARE * len(mismatched))
            for entry in mismatched[:done]:
                self._verified(entry)
            rest = mismatched[done:]
            wanted = max(OPEN_BOUNDS[0], round(OPEN_SHARE * len(mismatched)))
            for entry in rest[: min(len(rest), OPEN_BOUNDS[1], wanted)]:
                created = self.world.now - timedelta(
                    days=rng.randint(2, 45), hours=rng.randint(0, 8)
                )
                self.verifications.append(
                    Verification(
                        person=entry.person,
                        found=entry.found,
                        created_at=created,
                        territory_code=code,
                    )
                )

    def _verified(self, entry: Entry) -> None:
        rng, person = self.rng, entry.person
        when = self._at(self.today - timedelta(days=rng.randint(3, 360)))
        results, weights = zip(*RESULTS[entry.found], strict=True)
        result = rng.choices(results, weights)[0]
        entry.verification = (when, result)
        person.verified_residence, person.verified_at = result, when
        person.version, person.updated_at = 2, when
        note = VERIFICATION_NOTES[(entry.found, result)]
        self.verifications.append(
            Verification(
                person=person,
                state=Verification.State.DONE,
                found=entry.found,
                result=result,
                note=note,
                created_at=when - timedelta(days=rng.randint(3, 30)),
                verified_at=when,
                territory_code=person.territory_code,
            )
        )
        self.visits.append(
            Visit(
                person=person,
                household=person.household or person.registered_household,
                kind=Visit.Kind.VERIFICATION,
                visited_at=when,
                note=note,
                territory_code=person.territory_code,
            )
        )

    def _care(self) -> None:
        """Care groups at plausible shares, and weekly visits to the elderly living alone."""
        present = [e for e in self.entries if e.person.dwelling_id and e.person.residence != GONE]
        self._elderly_alone()
        rng = self.rng
        locals_ = [
            f for f in self.residing if all(e.person.residence == CONSISTENT for e in f.entries)
        ]
        for family in locals_:
            if rng.random() < SUBSISTENCE_HOUSEHOLD_SHARE:
                for entry in family.entries:
                    self._tag(entry, CareGroup.SUBSISTENCE)
        for entry in present:
            for group in self._groups(entry):
                self._tag(entry, group)

    def _groups(self, entry: Entry) -> list[str]:
        rng, age, person = self.rng, entry.age, entry.person
        groups: list[str] = []
        if entry.floating and age >= ADULT_AGE and person.residence == LIVES:
            groups.append(CareGroup.FLOATING)
        if rng.random() < DISABLED_SHARE[age >= 60]:
            groups.append(CareGroup.DISABLED)
        if 35 <= age <= 85 and rng.random() < VETERAN_SHARE[person.sex]:
            groups.append(CareGroup.VETERAN)
        band_4050 = (40, 49) if person.sex == Person.Sex.FEMALE else (50, 59)
        local = person.residence == CONSISTENT
        if local and band_4050[0] <= age <= band_4050[1] and rng.random() < SHARE_4050:
            groups.append(CareGroup.UNEMPLOYED_4050)
        if any(lo <= age < hi and rng.random() < p for lo, hi, p in VOLUNTEER_SHARE):
            groups.append(CareGroup.VOLUNTEER)
        if age < ADULT_AGE and rng.random() < MINOR_SHARE:
            groups.append(CareGroup.MINOR_IN_DIFFICULTY)
        return groups

    def _tag(self, entry: Entry, group: str, **fields: Any) -> CareTag:
        since = fields.pop("since", None) or self.today - timedelta(
            days=self.rng.randint(30, min(3650, max(30, entry.age * 365)))
        )
        tag = CareTag(
            person=entry.person,
            group=group,
            since=since,
            territory_code=entry.person.territory_code,
            **fields,
        )
        self.care_tags.append(tag)
        return tag

    def _elderly_alone(self) -> None:
        """独居老人: 70 or older, alone in their residing household; a weekly visit each, and in
        every grid some (10-15 %) are overdue today."""
        rng = self.rng
        by_grid: dict[str, list[Entry]] = defaultdict(list)
        for family in self.residing:
            if len(family.entries) == 1 and family.entries[0].age >= ELDERLY_AGE:
                entry = family.entries[0]
                if entry.person.residence != GONE:
                    by_grid[entry.person.territory_code].append(entry)
        for code in sorted(by_grid):
            elderly = by_grid[code]
            rng.shuffle(elderly)
            overdue = max(1, round(len(elderly) * rng.uniform(*OVERDUE_SHARE)))
            for number, entry in enumerate(elderly):
                days_ago = rng.randint(8, 21) if number < overdue else rng.randint(1, 7)
                self._weekly_visits(entry, days_ago)

    def _weekly_visits(self, entry: Entry, days_ago: int) -> None:
        rng = self.rng
        years_over = (entry.age - ELDERLY_AGE) * 365 + 60
        since = self.today - timedelta(days=rng.randint(60, min(2500, years_over)))
        last = self._at(self.today - timedelta(days=days_ago))
        self._tag(
            entry,
            CareGroup.ELDERLY_ALONE,
            since=since,
            visit_every_days=WEEKLY,
            last_visit_at=last,
            next_visit_due=timezone.localdate(last) + timedelta(days=WEEKLY),
        )
        day = timezone.localdate(last)
        for week in range(rng.randint(*VISIT_WEEKS)):
            if day < since:
                break
            visited_at = last if week == 0 else self._at(day)
            self.visits.append(
                Visit(
                    person=entry.person,
                    household=entry.person.household,
                    kind=Visit.Kind.CARE,
                    visited_at=visited_at,
                    note=rng.choice(CARE_NOTES),
                    territory_code=entry.person.territory_code,
                )
            )
            day -= timedelta(days=WEEKLY + rng.choice((-1, 0, 0, 1)))

    # --- history: versions and snapshots ----------------------------------------------------
    def _import_versions(self) -> int:
        """Version 1 (source import) of every person of the community. The database copies
        them from the person table (INSERT … SELECT, as reconciliation.open_verifications
        does): 50,000 rows at scale 1 would cost seconds through bulk_create. Returns the
        number of rows."""
        alias = router.db_for_write(PersonVersion)
        table = PersonVersion._meta.db_table
        columns = "person_id, version, source, changes, changed_at, territory_code"
        persons = Person.all_objects.filter(code_within("territory_code", self.code)).order_by()
        written = 0
        for lives, registered in ((True, True), (True, False), (False, True)):
            rows = persons.filter(
                dwelling__isnull=not lives, registered_dwelling__isnull=not registered
            ).values(
                v_person=F("pk"),
                v_version=Value(1),
                v_source=Value(str(PersonVersion.Source.IMPORT)),
                v_changes=_import_changes(lives, registered),
                v_changed_at=Value(self.world.imported, output_field=models.DateTimeField()),
                v_code=F("territory_code"),
            )
            select, params = rows.query.get_compiler(using=alias).as_sql()
            with connections[alias].cursor() as cursor:
                cursor.execute(f"INSERT INTO {table} ({columns}) {select}", params)
                written += max(cursor.rowcount, 0)
        return written

    def _verification_versions(self) -> list[PersonVersion]:
        """Version 2 (source verification) of the people verified at the door."""
        return [
            PersonVersion(
                person_id=entry.person.pk,
                version=2,
                source=PersonVersion.Source.VERIFICATION,
                changes={"verified_residence": ["", entry.verification[1]]},
                changed_at=entry.verification[0],
                territory_code=entry.person.territory_code,
            )
            for entry in self.entries
            if entry.verification
        ]

    def snapshots(self) -> list[ReconciliationSnapshot]:
        """The community and each grid on the first of each of the last twelve months and
        today. The past is the present with each later verification undone: the consistent
        rate climbs as door-to-door verification proceeds."""
        today = self._counts()
        verified = [
            (timezone.localdate(e.verification[0]), e) for e in self.entries if e.verification
        ]
        rows = []
        for day in [*month_starts(self.today, SNAPSHOT_MONTHS), self.today]:
            counts = self._undo(today, [e for verified_on, e in verified if verified_on > day])
            rows += [_snapshot(node, day, counts[node]) for node in sorted(counts)]
        return rows

    def _counts(self) -> dict[str, Counter[str]]:
        """Today's counts per node (the community and its grids)."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for entry in self.entries:
            for node in (self.code, entry.person.territory_code):
                counts[node][entry.person.residence] += 1
        for family in self.registered:
            consistent = any(e.person.residence == CONSISTENT for e in family.entries)
            for node in (self.code, family.household.territory_code):
                counts[node]["registered_households"] += 1
                counts[node]["consistent_households"] += consistent
        return counts

    def _undo(self, today: dict[str, Counter[str]], later: list[Entry]) -> dict[str, Counter[str]]:
        """``today``'s counts as they were before the verifications of ``later``."""
        counts = {node: Counter(values) for node, values in today.items()}
        before = {id(e): e.found for e in later}
        touched: dict[int, Family] = {}
        for entry in later:
            for node in (self.code, entry.person.territory_code):
                counts[node][entry.person.residence] -= 1
                counts[node][entry.found] += 1
            household = entry.person.registered_household
            if household is not None:
                touched[id(household)] = self.family_of[id(household)]
        for family in touched.values():
            then = any(before.get(id(e), e.person.residence) == CONSISTENT for e in family.entries)
            now = any(e.person.residence == CONSISTENT for e in family.entries)
            for node in (self.code, family.household.territory_code):
                counts[node]["consistent_households"] += int(then) - int(now)
        return counts

    # --- writing -------------------------------------------------------------------------
    def write(self, count: Callable[[str, int], None]) -> int:
        """Write everything planned, parents first, without bulk_create (``_insert``: its
        per-value work takes seconds for the 50,000 persons of scale 1). Households and persons
        get their ids here, so the rows after them can point at them. ``count(model name,
        rows)`` tallies what was written. Returns the number of residing households."""
        households = [f.household for f in (*self.registered, *self.residing)]
        # Residents first, then those registered here who live elsewhere (the survey, then the
        # registry extract's leftovers).
        persons = sorted((e.person for e in self.entries), key=lambda p: p.dwelling_id is None)
        for model, rows in ((Household, households), (Person, persons)):
            _number(model, rows)
            _insert(model, rows, with_pk=True)
            count(model._meta.model_name or "", len(rows))
        reset_sequences(Household, Person)
        count("personversion", self._import_versions())
        dependants: tuple[tuple[type[models.Model], list[Any]], ...] = (
            (Tenancy, self.tenancies),
            (PersonVersion, self._verification_versions()),
            (CareTag, self.care_tags),
            (Visit, self.visits),
            (Verification, self.verifications),
            (ReconciliationSnapshot, self.snapshots()),
        )
        for table, rows in dependants:
            _insert(table, rows)
            count(table._meta.model_name or "", len(rows))
        return len(self.residing)


def _insert(model: type[models.Model], objects: list[Any], *, with_pk: bool = False) -> None:
    """Write unsaved instances as they are (their derived fields filled already): COPY on
    PostgreSQL, one prepared INSERT run for every row (demo/cases.py's ``insert_objects``)
    elsewhere. Personal data is encrypted as its field would store it."""
    if connection.vendor != "postgresql":
        insert_objects(model, objects, with_pk=with_pk)
        return
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    prepare = [_pg_value(f) for f in fields]
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for obj in objects:
            copy.write_row([value(obj) for value in prepare])


def _pg_value(field: Any) -> Callable[[Any], Any]:
    """How to read one column's value from an instance for COPY."""
    name = field.attname
    if isinstance(field, EncryptedTextField):
        return lambda obj: encrypt(getattr(obj, name) or "")
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda obj: connection.ops.adapt_json_value(getattr(obj, name), encoder)
    if field.is_relation:  # an object assigned before it had its id: read the id now
        cached = field.get_cached_value

        def related_id(obj: Any) -> Any:
            value = getattr(obj, name)
            if value is None and field.is_cached(obj):
                related = cached(obj)
                value = related.pk if related is not None else None
            return value

        return related_id
    return lambda obj: getattr(obj, name)


def _number(model: type[models.Model], rows: list[Any]) -> None:
    """Ids for ``rows``, after the last one in the table (the generator runs in one
    transaction, alone)."""
    first = (model._base_manager.aggregate(last=Max("pk"))["last"] or 0) + 1
    for pk, row in enumerate(rows, start=first):
        row.pk = pk


def _home(dwelling: Dwelling | None, registered: Family | None) -> Dwelling:
    """Where a person's record hangs: where they live, else where they are registered."""
    if dwelling is not None:
        return dwelling
    if registered is not None:
        return registered.dwelling
    raise ValueError("a person lives or is registered somewhere")


def _import_changes(lives: bool, registered: bool) -> JSONObject:
    """What the import version records, in SQL: the name, that the identity number was set
    (never its value) and the dwellings of both sources."""
    nothing = Value(None, output_field=models.IntegerField())
    changes: dict[str, Any] = {
        "name": JSONArray(Value(None, output_field=models.CharField()), F("name")),
        "identity_number": Value(services.CHANGED),
    }
    if lives:
        changes["dwelling_id"] = JSONArray(nothing, F("dwelling_id"))
    if registered:
        changes["registered_dwelling_id"] = JSONArray(nothing, F("registered_dwelling_id"))
    return JSONObject(**changes)


def _snapshot(code: str, day: date, counts: Counter[str]) -> ReconciliationSnapshot:
    return ReconciliationSnapshot(
        territory_code=code,
        taken_on=day,
        persons=sum(counts[status] for status in Residence.values),
        consistent=counts[CONSISTENT],
        lives_not_registered=counts[LIVES],
        registered_not_living=counts[AWAY],
        unknown=counts[Residence.UNKNOWN],
        registered_households=counts["registered_households"],
        consistent_households=counts["consistent_households"],
    )


def assign_grid_workers(grids: Sequence[Grid]) -> None:
    """Each grid's grid worker (the demo login where it has one) made its visits and
    verifications: the users exist only once the staff are created, after the communities.
    One UPDATE per table, the worker found by a subquery on the row's grid code."""
    demo = [login.username for login in DEMO_LOGINS]
    grants = RoleGrant.objects.filter(
        role=Role.GRID_WORKER, grid__code=OuterRef("territory_code"), revoked_at__isnull=True
    )
    demo_first = Case(When(user__username__in=demo, then=Value(0)), default=Value(1))
    worker = Subquery(grants.order_by(demo_first, "user__username").values("user")[:1])
    codes = [grid.code for grid in grids]
    Visit.all_objects.filter(territory_code__in=codes).update(visited_by_id=worker)
    Verification.all_objects.filter(territory_code__in=codes, state=Verification.State.DONE).update(
        verified_by_id=worker
    )
    PersonVersion.all_objects.filter(
        territory_code__in=codes, source=PersonVersion.Source.VERIFICATION
    ).update(changed_by_id=worker)
    Person.all_objects.filter(territory_code__in=codes, version=2).update(updated_by_id=worker)

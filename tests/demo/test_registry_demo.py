"""The demo world's population registry (demo/registry.py): valid identity numbers, both
sources, 人户分离 shapes per community, care groups and visits, the demo grid worker's worklist,
versions and a year of reconciliation snapshots. One small world for the module."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from functools import lru_cache

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone, translation

from jiedao.accounts.models import User
from jiedao.core.crypto import blind_index
from jiedao.core.identity import is_mobile, parse_identity_number
from jiedao.core.pinyin import initials
from jiedao.core.scopes import unscoped
from jiedao.core.selectors import visible
from jiedao.demo import registry
from jiedao.demo.world import USE_WEIGHTS, USES
from jiedao.registry import reconciliation, services
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
from jiedao.territory.models import Community, Dwelling, Grid

pytestmark = pytest.mark.django_db
SCALE = 0.05
DISTRICT = "110119"
CONSISTENT, LIVES, AWAY, GONE = (
    Residence.CONSISTENT,
    Residence.LIVES_NOT_REGISTERED,
    Residence.REGISTERED_NOT_LIVING,
    Residence.GONE,
)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo world at a small scale, generated once and rolled back after the module."""
    with django_db_blocker.unblock(), transaction.atomic():
        with translation.override("en"):
            call_command("demo_world", seed=2026, scale=SCALE, verbosity=0)
        yield
        transaction.set_rollback(True)


def age(person: Person) -> int:
    return registry.age_on(person.birth_date, timezone.localdate())


def shares(persons) -> dict[str, float]:
    counts = Counter(p.residence for p in persons)
    return {key: counts[key] / len(persons) for key in (CONSISTENT, LIVES, AWAY)}


def community(index: int) -> Community:
    return Community.all_objects.order_by("code")[index]


# --- identity, phone, derived fields -----------------------------------------------------------
def test_identity_numbers_are_valid_unique_and_give_sex_and_birth_date(demo):
    with unscoped():
        persons = list(Person.objects.all())
    numbers = [p.identity_number for p in persons]
    assert len(set(numbers)) == len(numbers) > 2000
    for person in persons:
        parsed = parse_identity_number(person.identity_number)
        assert parsed.number == person.identity_number
        assert parsed.birth_date == person.birth_date
        assert parsed.is_male == (person.sex == Person.Sex.MALE)
        assert person.identity_index == blind_index("identity", person.identity_number)
        if person.registered_dwelling_id:  # registered in this street
            assert parsed.region_code == DISTRICT and person.registered_address == ""
        else:  # registered elsewhere: another place's address, encrypted
            assert person.registered_address and person.dwelling_id


def test_adults_have_unique_mobile_numbers_and_children_none(demo):
    with unscoped():
        persons = list(Person.objects.all())
    adults = [p for p in persons if age(p) >= 18]
    assert all(is_mobile(p.phone) and len(p.phone) == 11 for p in adults)
    assert all(p.phone_index == blind_index("phone", p.phone) for p in adults)
    assert all(p.phone == "" for p in persons if age(p) < 18)
    assert len({p.phone for p in adults}) == len(adults)


def test_encrypted_columns_hold_no_plaintext(demo):
    with unscoped():
        person = Person.objects.filter(~Q(registered_address="")).first()
        raw = Person.objects.filter(pk=person.pk).values_list("identity_index", flat=True)[0]
    assert raw == blind_index("identity", person.identity_number)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT identity_number, registered_address FROM registry_person WHERE id = %s",
            [person.pk],
        )
        stored_number, stored_address = cursor.fetchone()
    assert person.identity_number not in stored_number
    assert person.registered_address not in stored_address


def test_residence_is_what_services_say_for_every_person(demo):
    with unscoped():
        persons = list(Person.objects.all())
        verified = dict(
            Verification.objects.filter(state=Verification.State.DONE).values_list(
                "person_id", "result"
            )
        )
    for person in persons:
        assert person.residence == services.residence_of(person)
        assert person.initials == initials(person.name)
        home = person.dwelling_id or person.registered_dwelling_id
        with unscoped():
            assert person.territory_code == Dwelling.objects.get(pk=home).territory_code
        if person.verified_residence:
            assert verified[person.pk] == person.verified_residence == person.residence
    assert {p.residence for p in persons} >= {CONSISTENT, LIVES, AWAY, GONE}


# --- the two sources ---------------------------------------------------------------------------
def test_both_sources_registered_and_residing_households(demo):
    with unscoped():
        registered = Household.objects.filter(kind=Household.Kind.REGISTERED)
        residing = Household.objects.filter(kind=Household.Kind.RESIDING)
        numbers = list(registered.values_list("number", flat=True))
        assert numbers and all(numbers) and len(set(numbers)) == len(numbers)
        assert not residing.exclude(number="").exists()
        for person in Person.objects.select_related("household", "registered_household"):
            if person.dwelling_id:
                assert person.household.kind == Household.Kind.RESIDING
                assert person.household.dwelling_id == person.dwelling_id
            else:
                assert person.household is None
            if person.registered_dwelling_id:
                assert person.registered_household.kind == Household.Kind.REGISTERED
                assert person.registered_household.dwelling_id == person.registered_dwelling_id
            else:
                assert person.registered_household is None
        # Households split by moving: registered members both here and elsewhere.
        split = registered.annotate(
            here=Count("registered_members", filter=Q(registered_members__dwelling__isnull=False)),
            away=Count("registered_members", filter=Q(registered_members__dwelling__isnull=True)),
        ).filter(here__gt=0, away__gt=0)
        assert split.exists()
        # Moved within the street: living in one home, registered in another.
        assert (
            Person.objects.filter(dwelling__isnull=False, registered_dwelling__isnull=False)
            .exclude(dwelling=F("registered_dwelling"))
            .exists()
        )


def test_dwelling_uses_shape_who_lives_and_who_is_registered(demo):
    today = timezone.localdate()
    with unscoped():
        assert not Person.objects.filter(dwelling__use=Dwelling.Use.VACANT).exists()
        assert not Person.objects.filter(dwelling__use=Dwelling.Use.COMMERCIAL).exists()
        assert Person.objects.filter(registered_dwelling__use=Dwelling.Use.VACANT).exists()
        rented = Dwelling.objects.filter(use=Dwelling.Use.RENTED, residents__isnull=False)
        rented_ids = set(rented.values_list("pk", flat=True))
        tenancies = list(Tenancy.objects.select_related("household"))
        assert {t.dwelling_id for t in tenancies} == rented_ids
        for tenancy in tenancies:
            assert tenancy.household.dwelling_id == tenancy.dwelling_id
            assert tenancy.household.kind == Household.Kind.RESIDING
            assert tenancy.landlord_name and tenancy.starts_on <= today
            assert tenancy.ends_on is None or tenancy.ends_on > today
        # Tenants are registered elsewhere.
        tenants = Person.objects.filter(dwelling__use=Dwelling.Use.RENTED)
        assert not tenants.filter(residence=CONSISTENT, verified_residence="").exists()


# --- 人户分离 shapes -----------------------------------------------------------------------
def test_communities_have_an_ordinary_an_old_town_and_a_new_estate_shape(demo):
    with unscoped():
        ordinary, old_town, new_estate = (
            list(Person.objects.filter(territory_code__startswith=community(i).code))
            for i in range(3)
        )
        counts = reconciliation.counts(reconciliation.COMMUNITY)
        owners = Counter(
            Dwelling.objects.filter(use=Dwelling.Use.SELF_OCCUPIED).values_list(
                "territory_code", flat=True
            )
        )
    rates = shares(ordinary)
    assert 0.60 <= rates[CONSISTENT] <= 0.85
    assert 0.08 <= rates[LIVES] <= 0.25 and 0.04 <= rates[AWAY] <= 0.16
    # Like s001's 古塘: registered households about twice the consistent ones.
    old = counts[community(1).code]
    assert 1.6 <= old.registered_households / old.consistent_households <= 2.4
    assert 0.45 <= shares(old_town)[CONSISTENT] <= 0.62 and shares(old_town)[AWAY] >= 0.22
    # Like 旦苑: few registered households, many owner-occupiers registered elsewhere.
    new = counts[community(2).code]
    owner_occupied = sum(n for code, n in owners.items() if code.startswith(community(2).code))
    assert new.registered_households < 0.4 * owner_occupied
    assert shares(new_estate)[LIVES] >= 0.6


def plan_communities(count: int, dwellings: int, seed: int = 2026) -> list:
    """Communities planned in memory (no database) from made-up dwellings."""
    rng = random.Random(seed)
    cached = lru_cache(maxsize=None)(initials)
    world = registry.RegistryWorld(seed, "110119000000")
    planned = []
    for index in range(count):
        code = f"110119001{index + 1:03d}"
        homes = [
            Dwelling(
                pk=index * 100_000 + n + 1,
                use=rng.choices(USES, USE_WEIGHTS)[0],
                territory_code=f"{code}{n * 4 // dwellings + 1:03d}",
            )
            for n in range(dwellings)
        ]
        community_registry = world.community(index, code, cached)
        community_registry.plan(homes)
        planned.append(community_registry)
    return planned


def test_the_eleven_community_mix_gives_the_street_wide_rates():
    persons = [e.person for c in plan_communities(11, 300) for e in c.entries]
    living = [p for p in persons if p.residence != GONE]
    rates = shares(living)
    assert 0.60 <= rates[CONSISTENT] <= 0.75
    assert 0.15 <= rates[LIVES] <= 0.25
    assert 0.08 <= rates[AWAY] <= 0.15
    assert len(persons) > 11 * 300 * 2.5


def test_the_same_seed_gives_the_same_registry_and_another_seed_another():
    def signature(seed: int) -> list:
        return [
            (e.person.identity_number, e.person.phone, e.person.residence)
            for c in plan_communities(2, 60, seed)
            for e in c.entries
        ]

    assert signature(5) == signature(5)
    assert signature(5) != signature(6)


# --- care groups and visits --------------------------------------------------------------------
def test_elderly_living_alone_are_70_and_alone_with_weekly_visits(demo):
    today = timezone.localdate()
    with unscoped():
        tags = list(CareTag.objects.filter(group=CareGroup.ELDERLY_ALONE).select_related("person"))
        sizes = Counter(
            Person.objects.filter(household__isnull=False).values_list("household_id", flat=True)
        )
        alone = set(
            Person.objects.filter(
                household_id__in=[h for h, n in sizes.items() if n == 1]
            ).values_list("pk", flat=True)
        )
        last_visits = dict(
            Visit.objects.filter(kind=Visit.Kind.CARE)
            .values("person")
            .annotate(last=Max("visited_at"))
            .values_list("person", "last")
        )
        expected = {
            p.pk
            for p in Person.objects.filter(pk__in=alone).exclude(residence=GONE)
            if age(p) >= 70
        }
    assert {t.person_id for t in tags} == expected and len(expected) >= 12
    by_grid = Counter(t.territory_code for t in tags)
    overdue = Counter(t.territory_code for t in tags if t.next_visit_due < today)
    for tag in tags:
        assert tag.visit_every_days == 7
        assert tag.next_visit_due == timezone.localdate(tag.last_visit_at) + timedelta(days=7)
        assert last_visits[tag.person_id] == tag.last_visit_at <= timezone.now()
    for grid, n in by_grid.items():
        assert 1 <= overdue[grid] <= max(1, round(0.2 * n)), grid
    assert 0.08 <= sum(overdue.values()) / len(tags) <= 0.4


def test_care_groups_follow_who_people_are(demo):
    with unscoped():
        persons = {p.pk: p for p in Person.objects.all()}
        tags = list(CareTag.objects.values_list("person_id", "group"))
    groups: dict[str, set[int]] = {}
    for person_id, group in tags:
        groups.setdefault(group, set()).add(person_id)
    floating = {
        p.pk
        for p in persons.values()
        if p.residence == LIVES and age(p) >= 18 and not p.identity_number.startswith("11")
    }
    assert groups[CareGroup.FLOATING] == floating and floating
    assert all(persons[pk].residence == CONSISTENT for pk in groups[CareGroup.SUBSISTENCE])
    for pk in groups[CareGroup.UNEMPLOYED_4050]:
        person = persons[pk]
        band = (40, 49) if person.sex == Person.Sex.FEMALE else (50, 59)
        assert person.residence == CONSISTENT and band[0] <= age(person) <= band[1]
    assert all(persons[pk].dwelling_id for pk, _ in tags)
    present = sum(1 for p in persons.values() if p.dwelling_id and p.residence != GONE)
    assert 0.02 <= len(groups[CareGroup.VOLUNTEER]) / present <= 0.08
    assert 0.01 <= len(groups[CareGroup.DISABLED]) / present <= 0.06
    assert 0.003 <= len(groups[CareGroup.VETERAN]) / present <= 0.03
    assert groups[CareGroup.SUBSISTENCE] and groups[CareGroup.UNEMPLOYED_4050]


# --- the demo grid worker ----------------------------------------------------------------------
def test_demo_grid_worker_has_a_worklist_visits_and_overdue_people(demo):
    worker = User.objects.get(username="gridworker")
    grid = Grid.all_objects.order_by("code")[0]
    today = timezone.localdate()
    worklist = reconciliation.worklist(worker)
    assert 10 <= worklist.count() <= 30
    assert all(v.territory_code == grid.code for v in worklist)
    assert all(v.found == v.person.residence and v.found in (LIVES, AWAY) for v in worklist)
    tags = visible(CareTag, worker).filter(group=CareGroup.ELDERLY_ALONE)
    assert tags.filter(next_visit_due__lt=today).exists()
    with unscoped():
        visits = Visit.objects.filter(visited_by=worker)
        assert visits.filter(kind=Visit.Kind.CARE).exists()
        assert not visits.exclude(territory_code=grid.code).exists()
        done = Verification.objects.filter(state=Verification.State.DONE, territory_code=grid.code)
        assert done.exists() and not done.exclude(verified_by=worker).exists()
        # Every other grid has its own grid worker's history, and no visit is anonymous.
        assert not Visit.objects.filter(visited_by__isnull=True).exists()
        for other in Grid.objects.exclude(pk=grid.pk):
            workers = set(
                Visit.objects.filter(territory_code=other.code).values_list(
                    "visited_by__username", flat=True
                )
            )
            assert workers <= {f"gw-{other.code[9:12]}-{other.code[-3:]}"}


def test_every_grid_has_open_and_done_verifications(demo):
    with unscoped():
        grids = list(Grid.objects.values_list("code", flat=True))
        open_counts = Counter(
            Verification.objects.filter(state=Verification.State.OPEN).values_list(
                "territory_code", flat=True
            )
        )
        # Mismatches neither verified nor on the worklist: none only where the worklist is short.
        waiting = Counter(
            reconciliation.needs_verification().values_list("territory_code", flat=True)
        )
        done = list(Verification.objects.filter(state=Verification.State.DONE))
    for code in grids:
        assert open_counts[code] <= 30
        assert open_counts[code] >= 10 or (open_counts[code] and not waiting[code]), code
    assert sum(open_counts.values()) >= 10 * len(grids) * 0.8
    for verification in done:
        assert verification.result and verification.verified_at <= timezone.now()
        assert verification.created_at < verification.verified_at
    assert {v.result for v in done} >= {CONSISTENT, GONE, LIVES, AWAY}


# --- history -----------------------------------------------------------------------------------
def test_one_import_version_per_person_and_one_more_per_verification(demo):
    with unscoped():
        versions = Counter(PersonVersion.objects.values_list("source", "version"))
        persons = Person.objects.count()
        verified = Person.objects.exclude(verified_residence="")
        assert versions[(PersonVersion.Source.IMPORT, 1)] == persons
        assert versions[(PersonVersion.Source.VERIFICATION, 2)] == verified.count() > 0
        assert sum(versions.values()) == persons + verified.count()
        assert set(verified.values_list("version", flat=True)) == {2}
        imports = list(PersonVersion.objects.filter(version=1).select_related("person"))
    a_year_ago = timezone.now() - timedelta(days=365)
    for version in imports:
        person = version.person
        expected = {"name": [None, person.name], "identity_number": services.CHANGED}
        if person.dwelling_id:
            expected["dwelling_id"] = [None, person.dwelling_id]
        if person.registered_dwelling_id:
            expected["registered_dwelling_id"] = [None, person.registered_dwelling_id]
        assert version.changes == expected
        assert version.territory_code == person.territory_code
        assert version.changed_at < a_year_ago and version.changed_by_id is None


def test_snapshots_show_a_year_of_slowly_improving_consistency(demo):
    today = timezone.localdate()
    with unscoped():
        live = reconciliation.counts(reconciliation.GRID)
        live.update(reconciliation.counts(reconciliation.COMMUNITY))
        nodes = [*Community.objects.values_list("code", flat=True)]
        nodes += Grid.objects.values_list("code", flat=True)
        snapshots = list(ReconciliationSnapshot.objects.order_by("territory_code", "taken_on"))
    by_node: dict[str, list[ReconciliationSnapshot]] = {}
    for snapshot in snapshots:
        by_node.setdefault(snapshot.territory_code, []).append(snapshot)
    assert set(by_node) == set(nodes)
    days = [*registry.month_starts(today, 12), today]
    for code, rows in by_node.items():
        assert [row.taken_on for row in rows] == days
        now = rows[-1]
        for name in reconciliation.SNAPSHOT_FIELDS:
            assert getattr(now, name) == getattr(live[code], name), (code, name)
    for code in nodes[:3]:  # communities: a rising consistent rate, month after month
        rates = [row.consistent / row.persons for row in by_node[code]]
        assert rates == sorted(rates) and rates[-1] - rates[0] >= 0.01
        assert len(set(rates)) >= 4

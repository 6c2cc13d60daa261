"""manage.py demo_world at a small scale: counts, codes, boundaries, logins, idempotence."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import translation
from shapely.geometry import Point, shape
from stdnum.cn import uscc

from jiedao.accounts.models import User
from jiedao.audit.models import AuditEntry
from jiedao.audit.services import verify_chain
from jiedao.core.pinyin import initials
from jiedao.core.scopes import unscoped
from jiedao.demo.logins import DEMO_LOGINS, DEMO_PASSWORD
from jiedao.registry.models import Household, Person
from jiedao.territory import codes
from jiedao.territory.models import (
    Building,
    Community,
    Department,
    District,
    Dwelling,
    Grid,
    Organisation,
    StandardAddress,
    Street,
)

pytestmark = pytest.mark.django_db
SMALL = 0.05


def generate(seed: int = 2026, scale: float = SMALL, **options) -> str:
    out = StringIO()
    with translation.override("en"):
        call_command("demo_world", seed=seed, scale=scale, stdout=out, **options)
    return out.getvalue()


def snapshot(seed: int, scale: float = 0.02) -> dict:
    """Generate inside a savepoint, read what matters, and roll back."""
    with transaction.atomic(), unscoped():
        generate(seed, scale, verbosity=0)
        data = {
            "grids": list(Grid.objects.order_by("code").values_list("code", "name", "boundary")),
            "buildings": list(
                Building.objects.order_by("territory_code", "name").values_list(
                    "name", "address__full_text"
                )
            ),
            "persons": list(
                Person.objects.order_by("territory_code", "name", "birth_date").values_list(
                    "name", "sex", "birth_date"
                )
            ),
            "organisations": sorted(Organisation.objects.values_list("name", "credit_code")),
            "users": sorted(User.objects.values_list("username", "display_name")),
        }
        transaction.set_rollback(True)
    return data


def test_same_seed_gives_the_same_world_and_another_seed_another():
    first, again, other = snapshot(7), snapshot(7), snapshot(8)
    assert first == again
    assert first["persons"] != other["persons"]
    assert first["organisations"] != other["organisations"]


def test_counts_codes_and_derived_fields():
    output = generate()
    assert "jiedao-demo-2026" in output
    with unscoped():
        assert District.objects.count() == 1 and Street.objects.count() == 1
        assert Department.objects.count() >= 8
        assert Community.objects.count() == 3
        assert 9 <= Grid.objects.count() <= 15
        assert 15 <= Building.objects.filter(use="residential").count() <= 16
        # Residing households are the homes; registered ones (户籍户) come on top of them.
        assert 500 <= Household.objects.filter(kind=Household.Kind.RESIDING).count() <= 1100
        assert 1500 <= Person.objects.count() <= 3300
        assert 5 <= Organisation.objects.count() <= 8
        assert Household.objects.filter(kind=Household.Kind.REGISTERED).exists()
        assert Household.objects.filter(kind=Household.Kind.RESIDING).exists()

        district = District.objects.get()
        codes.validate_district_code(district.code)
        street = Street.objects.get()
        codes.validate_street_code(street.code, district.code)
        for community in Community.objects.all():
            codes.validate_community_code(community.code, street.code)
        for grid in Grid.objects.select_related("community"):
            codes.validate_grid_code(grid.code, grid.community.code)
        for organisation in Organisation.objects.all():
            assert uscc.is_valid(organisation.credit_code)
            assert organisation.territory_code == Grid.objects.get(pk=organisation.grid_id).code

        for person in Person.objects.select_related("dwelling", "household")[:300]:
            assert (
                person.territory_code
                == person.dwelling.territory_code
                == person.household.territory_code
            )
            assert person.initials == initials(person.name)
        for dwelling in Dwelling.objects.select_related("address", "building")[:300]:
            assert dwelling.address.full_text == dwelling.address.compose()
            assert dwelling.address.room_no == dwelling.room
            assert dwelling.territory_code == dwelling.building.territory_code
        assert not StandardAddress.objects.filter(full_text="").exists()
        assert Community.objects.filter(initials__startswith="xsy").first().code == "110119001001"


def test_grids_do_not_overlap_and_buildings_lie_in_their_grid():
    generate()
    with unscoped():
        for community in Community.objects.all():
            shapes = [shape(g.boundary) for g in community.grids.all()]
            assert 3 <= len(shapes) <= 5
            for i, a in enumerate(shapes):
                assert a.is_valid
                for b in shapes[i + 1 :]:
                    assert a.intersection(b).area == 0
        for building in Building.objects.select_related("grid"):
            assert shape(building.grid.boundary).contains(Point(building.lng, building.lat))


def test_every_demo_login_exists_with_its_grant():
    generate()
    expected_nodes = {
        "community1": "110119001001",
        "grid1": "110119001001001",
        "street": "110119001000",
        "district": "110119000000",
        "department1": "110119-CGW",
    }
    with unscoped():
        for login in DEMO_LOGINS:
            user = User.objects.get(username=login.username)
            assert user.check_password(DEMO_PASSWORD)
            assert user.roles == {login.role}
            grant = user.active_grants[0]
            if login.node:
                assert grant.node.code == expected_nodes[login.node]
            else:
                assert grant.node is None and user.is_superuser and user.is_staff
        assert User.objects.filter(username__startswith="gw-").count() == Grid.objects.count()


def test_generation_is_audited_once_and_the_chain_holds():
    generate()
    with unscoped():
        summary = AuditEntry.objects.get(action="demo.generate")
        assert summary.after["counts"]["person"] == Person.objects.count()
        # One entry per grant plus the summary: never one per generated row.
        assert AuditEntry.objects.count() < Person.objects.count() / 5
    assert verify_chain().ok


def test_if_empty_makes_a_second_run_harmless():
    generate(if_empty=True)
    with unscoped():
        persons = Person.objects.count()
    assert "already exists" in generate(if_empty=True)
    with unscoped():
        assert Person.objects.count() == persons and Street.objects.count() == 1
    with pytest.raises(CommandError):
        generate()

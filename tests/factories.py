"""Factories for tests. Scoped models are created through their plain ``all_objects`` manager,
so tests need no active scope to build data; reads in tests still go through selectors."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from jiedao.accounts.models import RoleGrant, User
from jiedao.accounts.roles import ROLE_LEVEL, Role
from jiedao.registry.models import Household, Person
from jiedao.territory import models as t

PASSWORD = "correct-horse-battery"


def square(lng: float, lat: float, size: float = 0.004) -> dict:
    ring = [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


class PlainManagerFactory(DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        obj = model_class(*args, **kwargs)
        obj.save()
        return obj


class DistrictFactory(PlainManagerFactory):
    class Meta:
        model = t.District

    code = factory.Sequence(lambda n: f"1101{19 + n:02d}000000")
    name = factory.Sequence(lambda n: f"延庆{n}区")


class StreetFactory(PlainManagerFactory):
    class Meta:
        model = t.Street

    district = factory.SubFactory(DistrictFactory)
    code = factory.LazyAttributeSequence(lambda o, n: f"{o.district.code[:6]}{n % 999 + 1:03d}000")
    name = factory.Sequence(lambda n: f"香水园{n}街道")


class CommunityFactory(PlainManagerFactory):
    class Meta:
        model = t.Community

    street = factory.SubFactory(StreetFactory)
    code = factory.LazyAttributeSequence(lambda o, n: f"{o.street.code[:9]}{n % 999 + 1:03d}")
    name = factory.Sequence(lambda n: f"香水园{n}社区")


class GridFactory(PlainManagerFactory):
    class Meta:
        model = t.Grid

    community = factory.SubFactory(CommunityFactory)
    code = factory.LazyAttributeSequence(lambda o, n: f"{o.community.code}{n % 999 + 1:03d}")
    name = factory.Sequence(lambda n: f"第{n}网格")
    boundary = factory.Sequence(lambda n: square(115.95 + (n % 50) * 0.005, 40.45))


class DepartmentFactory(PlainManagerFactory):
    class Meta:
        model = t.Department

    district = factory.SubFactory(DistrictFactory)
    code = factory.Sequence(lambda n: f"DEPT{n:04d}")
    name = factory.Sequence(lambda n: f"区城市管理委员会{n}")
    kind = t.Department.Kind.LAW_ENFORCEMENT


class AddressFactory(PlainManagerFactory):
    class Meta:
        model = t.StandardAddress

    grid = factory.SubFactory(GridFactory)
    road = "香水园路"
    number = factory.Sequence(lambda n: f"{n + 1}号")


class BuildingFactory(PlainManagerFactory):
    class Meta:
        model = t.Building

    grid = factory.SubFactory(GridFactory)
    address = factory.LazyAttribute(lambda o: AddressFactory(grid=o.grid))
    name = factory.Sequence(lambda n: f"{n + 1}号楼")
    floors = 6


class EntranceFactory(PlainManagerFactory):
    class Meta:
        model = t.Entrance

    building = factory.SubFactory(BuildingFactory)
    number = factory.Sequence(lambda n: n + 1)


class DwellingFactory(PlainManagerFactory):
    class Meta:
        model = t.Dwelling

    entrance = factory.SubFactory(EntranceFactory)
    building = factory.LazyAttribute(lambda o: o.entrance.building)
    room = factory.Sequence(lambda n: f"{100 + n}")
    floor = 1
    address = factory.LazyAttribute(
        lambda o: AddressFactory(
            grid=o.entrance.building.grid,
            road="香水园路",
            number="1号",
            room_no=o.room,
            building_no=o.entrance.building.name.rstrip("号楼"),
            entrance_no=str(o.entrance.number),
        )
    )


class OrganisationFactory(PlainManagerFactory):
    class Meta:
        model = t.Organisation

    grid = factory.SubFactory(GridFactory)
    name = factory.Sequence(lambda n: f"延庆第{n}中学")
    kind = t.Organisation.Kind.RESIDENT_UNIT


class HouseholdFactory(PlainManagerFactory):
    class Meta:
        model = Household

    dwelling = factory.SubFactory(DwellingFactory)


class PersonFactory(PlainManagerFactory):
    class Meta:
        model = Person
        skip_postgeneration_save = True

    household = factory.SubFactory(HouseholdFactory)
    dwelling = factory.LazyAttribute(lambda o: o.household.dwelling)
    registered_dwelling = factory.LazyAttribute(lambda o: o.dwelling)
    name = factory.Sequence(lambda n: f"张{n}")
    sex = "M"
    birth_date = factory.Faker("date_of_birth", minimum_age=1, maximum_age=95)

    @factory.post_generation
    def derived(obj, create, extracted, **kwargs):
        """Blind indexes and 人户分离 status follow the values, as services.save_person keeps them."""
        from jiedao.registry.services import fill_derived

        fill_derived(obj)
        if create:
            obj.save()


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Sequence(lambda n: f"用户{n}")
    password = factory.django.Password(PASSWORD)


def user_with_role(role: str, node=None, **kwargs) -> User:
    """A user holding one grant of ``role`` on ``node`` (checked against the role's level)."""
    user = UserFactory(**kwargs)
    grant = RoleGrant(user=user, role=role)
    level = ROLE_LEVEL[role]
    if level is not None:
        assert node is not None and node._meta.model_name == level, f"{role} needs a {level}"
        setattr(grant, level, node)
    grant.full_clean()
    grant.save()
    if role == Role.SYSTEM_ADMIN:
        user.is_staff = user.is_superuser = True
        user.save()
    user.clear_grant_cache()
    return user

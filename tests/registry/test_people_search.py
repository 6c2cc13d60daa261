"""Search and filters of the person list: the shape of the term picks one indexed lookup."""

from __future__ import annotations

import datetime

import pytest

from jiedao.accounts.roles import Role
from jiedao.registry import selectors
from jiedao.registry.models import CareTag, Person, Residence
from jiedao.registry.selectors import PersonFilters, SearchKind
from tests import factories as f
from tests.registry.people_helpers import people

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def someone(world):
    return people(world)


@pytest.mark.parametrize(
    ("term", "kind"),
    [
        ("", SearchKind.NONE),
        ("  ", SearchKind.NONE),
        ("小明", SearchKind.NAME),
        ("王", SearchKind.NAME),
        ("wxm", SearchKind.INITIALS),
        ("ＷＸＭ", SearchKind.INITIALS),  # full-width letters from an input method
        ("110119195003071239", SearchKind.IDENTITY),
        ("110119 19750115 428x", SearchKind.IDENTITY),
        ("１１０１１９１９５００３０７１２３９", SearchKind.IDENTITY),
        ("13812345678", SearchKind.PHONE),
        ("+86 138-1234-5678", SearchKind.PHONE),
        ("010-61234567", SearchKind.PHONE),
        ("1234", SearchKind.PARTIAL_NUMBER),
        ("5678", SearchKind.PARTIAL_NUMBER),
        ("1381234567", SearchKind.PARTIAL_NUMBER),  # ten digits: not a whole mobile
    ],
)
def test_search_kind_follows_the_shape_of_the_term(term, kind):
    assert selectors.search_kind(term) == kind


def _names(actor, **filters):
    return sorted(p.name for p in selectors.people(actor, PersonFilters(**filters)))


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("小明", ["王小明"]),
        ("wxm", ["王小明"]),
        ("WX", ["王小明"]),
        ("lh", ["李红"]),
        ("110119195003071239", ["王小明"]),
        ("11011919750115428x", ["孙丽"]),  # lower-case x, street B
        ("11011919750115428X", ["孙丽"]),
        ("+86 139 8765 4321", ["李红"]),
        ("13987654321", ["李红"]),
        ("8765", []),  # part of a phone: encrypted values have no prefix to search
        ("110119195003071230", []),  # a wrong check digit finds nobody
    ],
)
def test_search_by_name_initials_identity_number_and_phone(someone, role_users, term, expected):
    assert _names(role_users[Role.DISTRICT_ADMIN], q=term) == expected


def test_search_never_reaches_outside_the_territory(someone, role_users):
    worker = role_users[Role.GRID_WORKER]
    assert _names(worker, q=someone["a1y"].identity) == []
    assert _names(worker, q=someone["a1y"].phone) == []
    assert _names(worker, q="lh") == []
    assert _names(worker, q=someone["a1x"].phone) == ["王小明"]


def test_the_search_box_says_how_it_searched(client, someone, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    by_phone = client.get("/registry/people/?q=13812345678", **EN).text
    assert "phone number (exact)" in by_phone and "王小明" in by_phone
    partial = client.get("/registry/people/?q=5678", **EN).text
    assert "type the whole number" in partial and "王小明" not in partial


def test_age_bands_include_both_ends(world):
    today = datetime.date(2026, 3, 7)
    births = {
        "turns 18 today": (datetime.date(2008, 3, 7), selectors.AgeBand.YOUNG),
        "18 tomorrow": (datetime.date(2008, 3, 8), selectors.AgeBand.MINOR),
        "turns 60 today": (datetime.date(1966, 3, 7), selectors.AgeBand.SENIOR),
        "60 tomorrow": (datetime.date(1966, 3, 8), selectors.AgeBand.MIDDLE),
        "turns 80 today": (datetime.date(1946, 3, 7), selectors.AgeBand.OLD),
        "80 tomorrow": (datetime.date(1946, 3, 8), selectors.AgeBand.SENIOR),
    }
    household = world.persons["a1x"].household
    made = {
        label: f.PersonFactory(household=household, birth_date=birth).pk
        for label, (birth, _band) in births.items()
    }
    for label, (_birth, band) in births.items():
        person = Person.all_objects.filter(pk=made[label])
        found = [b for b in selectors.AgeBand if person.filter(selectors.age_band_q(b, today))]
        assert found == [band], label


def test_a_29_february_birthday_counts_on_28_february():
    assert selectors.years_before(datetime.date(2028, 2, 29), 18) == datetime.date(2010, 2, 28)
    assert selectors.age_on(datetime.date(2008, 2, 29), datetime.date(2026, 3, 1)) == 18


def test_filters(someone, role_users, world):
    admin = role_users[Role.DISTRICT_ADMIN]
    assert _names(admin, sex="F") == ["孙丽", "李红"]
    assert _names(admin, age_band="0-17") == ["赵刚"]
    assert _names(admin, community=world.community_a1.pk) == ["李红", "王小明"]
    assert _names(admin, grid=world.grid_a1y.pk) == ["李红"]
    CareTag.all_objects.create(
        person=someone["b1x"].person, group="disabled", territory_code=world.grid_b1x.code
    )
    assert _names(admin, care_group="disabled") == ["孙丽"]
    away = someone["a2x"].person
    Person.all_objects.filter(pk=away.pk).update(residence=Residence.LIVES_NOT_REGISTERED)
    assert _names(admin, residence=Residence.LIVES_NOT_REGISTERED) == ["赵刚"]


def test_a_grid_worker_filtering_by_their_community_still_sees_only_their_grid(
    someone, role_users, world
):
    worker = role_users[Role.GRID_WORKER]
    assert _names(worker, community=world.community_a1.pk) == ["王小明"]
    assert _names(worker, grid=world.grid_a1y.pk) == []  # not theirs: nobody
    assert _names(worker, community=world.community_b1.pk) == []


def test_filter_page_refuses_a_grid_outside_the_territory(client, someone, role_users, world):
    client.force_login(role_users[Role.GRID_WORKER])
    response = client.get(f"/registry/people/?grid={world.grid_a1y.pk}", **EN)
    assert response.status_code == 200 and "Select a valid choice" in response.text
    assert "王小明" not in response.text and "李红" not in response.text


def test_the_list_is_paginated_without_a_query_per_row(
    client, someone, role_users, django_assert_max_num_queries
):
    household = someone["a1x"].person.household
    for _ in range(60):
        f.PersonFactory(household=household)
    client.force_login(role_users[Role.GRID_WORKER])
    with django_assert_max_num_queries(20):
        first = client.get("/registry/people/", **EN)
    assert "61 persons" in first.text and "Page 1 of 2" in first.text
    second = client.get("/registry/people/?page=2", **EN)
    assert second.text.count("/registry/people/") >= 11


def test_htmx_search_returns_only_the_results(client, someone, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get("/registry/people/?q=wxm", HTTP_HX_REQUEST="true")
    assert "<html" not in response.text and "王小明" in response.text
    assert "李红" not in response.text

"""The field form: edit and new person, versions with their source, a stale save, bad input."""

from __future__ import annotations

import datetime

import pytest

from jiedao.accounts.roles import Role
from jiedao.core.crypto import blind_index
from jiedao.core.scopes import unscoped
from jiedao.registry import services
from jiedao.registry.forms import PersonForm
from jiedao.registry.models import Person, PersonVersion
from tests import factories as f
from tests.registry.people_helpers import fresh, identity_number, people

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
NEW_NUMBER = identity_number("110229", datetime.date(1946, 8, 1), 17)  # a man born 1946


@pytest.fixture
def someone(world):
    return people(world)


def _post(person, **changes):
    data = {
        "version": person.version,
        "name": person.name,
        "relation": person.relation,
        "building": person.dwelling.building_id,
        "dwelling": person.dwelling_id,
    }
    data.update(changes)
    return data


def _versions(person):
    with unscoped():
        return list(PersonVersion.all_objects.filter(person=person).order_by("version"))


def test_a_grid_worker_saves_from_the_field(client, someone, role_users):
    worker = role_users[Role.GRID_WORKER]
    client.force_login(worker)
    person = someone["a1x"].person
    response = client.post(
        f"/registry/people/{person.pk}/edit/",
        _post(person, name="王晓明", phone="139 1111 2222", relation="head"),
    )
    assert response.status_code == 302 and response["Location"].endswith(f"/people/{person.pk}/")
    saved = fresh(person)
    assert (saved.name, saved.phone, saved.relation) == ("王晓明", "13911112222", "head")
    assert saved.version == person.version + 1 and saved.updated_by == worker
    latest = _versions(person)[-1]
    assert latest.source == PersonVersion.Source.FIELD and latest.changed_by == worker
    assert latest.changes == {
        "name": ["王小明", "王晓明"],
        "phone": "changed",
        "relation": ["", "head"],
    }


def test_office_staff_save_from_the_office(client, someone, role_users):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    person = someone["a1y"].person
    client.post(f"/registry/people/{person.pk}/edit/", _post(person, name="李虹"))
    assert _versions(person)[-1].source == PersonVersion.Source.OFFICE


def test_an_empty_phone_keeps_the_stored_one(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    s = someone["a1x"]
    form = client.get(f"/registry/people/{s.person.pk}/edit/").text
    assert s.phone not in form and "138****5678" in form  # never pre-filled in clear
    client.post(f"/registry/people/{s.person.pk}/edit/", _post(s.person, name="王晓明", phone=""))
    assert fresh(s.person).phone == s.phone


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "12345", "11-digit mobile"),
        ("identity_number", "110119195003071230", "check digit"),
        ("identity_number", "11011919500307", "18 characters"),
    ],
)
def test_bad_input_is_a_form_error_and_saves_nothing(
    client, someone, role_users, field, value, message
):
    client.force_login(role_users[Role.GRID_WORKER])
    person = someone["a1x"].person
    before = _versions(person)
    response = client.post(
        f"/registry/people/{person.pk}/edit/",
        _post(person, name="改了名字", **{field: value}),
        **EN,
    )
    assert response.status_code == 200 and message in response.text
    assert 'value="改了名字"' in response.text  # what was typed stays
    assert fresh(person).name == "王小明" and _versions(person) == before


def test_an_identity_number_someone_else_has_is_refused(client, someone, role_users):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    person = someone["a1x"].person
    response = client.post(
        f"/registry/people/{person.pk}/edit/",
        _post(person, identity_number=someone["a1y"].identity),
        **EN,
    )
    assert "Another person already has this identity number" in response.text
    assert fresh(person).identity_number == someone["a1x"].identity


def test_a_stale_form_keeps_the_typed_values_and_shows_the_current_version(
    client, someone, role_users
):
    client.force_login(role_users[Role.GRID_WORKER])
    person = someone["a1x"].person
    opened_at = person.version
    services.save_person(  # the workstation saves first
        role_users[Role.WORKSTATION_STAFF],
        person,
        {"name": "王大明"},
        source="office",
        expected_version=opened_at,
    )
    data = _post(person, name="王晓明", relation="spouse")
    response = client.post(f"/registry/people/{person.pk}/edit/", data, **EN)
    assert response.status_code == 200
    assert "Someone else changed this record" in response.text
    assert "王大明" in response.text  # the current version
    assert 'value="王晓明"' in response.text  # the typed value, not lost
    assert f'name="version" value="{opened_at + 1}"' in response.text
    assert fresh(person).name == "王大明" and fresh(person).version == opened_at + 1
    # Saving again, now deliberately over the current version, works.
    again = client.post(f"/registry/people/{person.pk}/edit/", {**data, "version": opened_at + 1})
    assert again.status_code == 302 and fresh(person).name == "王晓明"


def test_a_move_to_another_room_joins_its_household(client, someone, role_users, world):
    client.force_login(role_users[Role.GRID_WORKER])
    person = someone["a1x"].person
    room = f.DwellingFactory(entrance=person.dwelling.entrance, building=person.dwelling.building)
    household = f.HouseholdFactory(dwelling=room)
    response = client.post(f"/registry/people/{person.pk}/edit/", _post(person, dwelling=room.pk))
    assert response.status_code == 302
    moved = fresh(person)
    assert (moved.dwelling_id, moved.household_id) == (room.pk, household.pk)
    assert set(_versions(person)[-1].changes) == {"dwelling_id", "household_id"}


def test_a_room_outside_the_workers_grid_cannot_be_chosen(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    person = someone["a1x"].person
    elsewhere = someone["a1y"].person.dwelling
    response = client.post(
        f"/registry/people/{person.pk}/edit/",
        _post(person, building=elsewhere.building_id, dwelling=elsewhere.pk),
        **EN,
    )
    assert response.status_code == 200 and "Select a valid choice" in response.text
    assert fresh(person).dwelling_id == person.dwelling_id


def test_the_room_must_be_in_the_chosen_building(client, someone, role_users, world):
    client.force_login(role_users[Role.GRID_WORKER])
    person = someone["a1x"].person
    other = f.BuildingFactory(grid=world.grid_a1x)
    response = client.post(
        f"/registry/people/{person.pk}/edit/", _post(person, building=other.pk), **EN
    )
    assert "Choose a room in the chosen building" in response.text


def test_a_missing_version_is_refused(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    person = someone["a1x"].person
    data = _post(person, name="无版本")
    del data["version"]
    response = client.post(f"/registry/people/{person.pk}/edit/", data)
    assert response.status_code == 200 and fresh(person).name == "王小明"


def test_building_choices_load_the_rooms(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    dwelling = someone["a1x"].person.dwelling
    form = client.get(f"/registry/people/{someone['a1x'].person.pk}/edit/").text
    assert 'hx-get="/registry/people/dwellings/"' in form
    options = client.get(f"/registry/people/dwellings/?building={dwelling.building_id}").text
    assert f'<option value="{dwelling.pk}">' in options
    other = someone["a1y"].person.dwelling  # not in the worker's grid
    assert (
        f'value="{other.pk}"'
        not in client.get(f"/registry/people/dwellings/?building={other.building_id}").text
    )


def test_identity_number_is_not_editable_for_those_who_may_not_reveal(someone, role_users):
    person = someone["a1x"].person
    worker = role_users[Role.GRID_WORKER]
    locked = PersonForm(
        _post(person, identity_number=NEW_NUMBER),
        actor=worker,
        person=person,
        identity_editable=False,
    )
    assert "identity_number" not in locked.fields
    assert locked.is_valid() and "identity_number" not in locked.values()


# --- New person -------------------------------------------------------------------------------


def test_a_new_person_in_a_dwelling(client, someone, role_users):
    worker = role_users[Role.GRID_WORKER]
    client.force_login(worker)
    dwelling = someone["a1x"].person.dwelling
    url = f"/registry/people/new/?dwelling={dwelling.pk}"
    page = client.get(url).text
    assert str(dwelling) in page
    response = client.post(
        url,
        {
            "name": "周老汉",
            "identity_number": NEW_NUMBER,
            "phone": "13500001234",
            "household": someone["a1x"].person.household_id,
            "relation": "parent",
        },
    )
    assert response.status_code == 302
    with unscoped():
        created = Person.all_objects.get(identity_index=blind_index("identity", NEW_NUMBER))
    assert (created.sex, created.birth_date) == ("M", datetime.date(1946, 8, 1))
    assert (
        created.dwelling == dwelling and created.household_id == someone["a1x"].person.household_id
    )
    assert response["Location"].endswith(f"/people/{created.pk}/")
    (version,) = _versions(created)
    assert version.source == PersonVersion.Source.FIELD and version.version == 1


def test_a_new_person_without_identity_number_needs_sex_and_birth_date(client, someone, role_users):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    dwelling = someone["a1x"].person.dwelling
    url = f"/registry/people/new/?dwelling={dwelling.pk}"
    response = client.post(url, {"name": "无证人员"}, **EN)
    assert (
        response.status_code == 200 and "Needed when there is no identity number" in response.text
    )
    ok = client.post(url, {"name": "无证人员", "sex": "F", "birth_date": "1990-02-03"})
    assert ok.status_code == 302
    with unscoped():
        assert Person.all_objects.get(name="无证人员").identity_index == ""


def test_a_new_person_with_a_bad_identity_number_is_not_created(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    dwelling = someone["a1x"].person.dwelling
    response = client.post(
        f"/registry/people/new/?dwelling={dwelling.pk}",
        {
            "name": "错号码",
            "identity_number": NEW_NUMBER[:-1] + "0"
            if NEW_NUMBER[-1] != "0"
            else NEW_NUMBER[:-1] + "1",
        },
        **EN,
    )
    assert response.status_code == 200 and "check digit" in response.text
    with unscoped():
        assert not Person.all_objects.filter(name="错号码").exists()
        assert not PersonVersion.all_objects.filter(person__name="错号码").exists()


def test_a_new_person_outside_the_workers_grid_is_not_found(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    dwelling = someone["a1y"].person.dwelling
    response = client.post(
        f"/registry/people/new/?dwelling={dwelling.pk}",
        {"name": "越界", "sex": "M", "birth_date": "1980-01-01"},
    )
    assert response.status_code == 404
    with unscoped():
        assert not Person.all_objects.filter(name="越界").exists()

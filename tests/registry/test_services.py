"""Person writes: validation, uniqueness by identity number, versions, audit, reveal."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError

from jiedao.audit.models import AuditEntry
from jiedao.core.crypto import blind_index
from jiedao.core.identity import make_identity_number
from jiedao.core.scopes import unscoped
from jiedao.registry import services
from jiedao.registry.models import Person, PersonVersion, Residence

BIRTH = datetime.date(1990, 3, 7)
NUMBER = make_identity_number("110119", BIRTH, 123)  # odd sequence digit: a man


@pytest.fixture
def dwelling(world):
    return world.persons["a1x"].dwelling


def _new(dwelling, **values):
    values.setdefault("name", "王小明")
    values.setdefault("sex", Person.Sex.FEMALE)
    values.setdefault("birth_date", datetime.date(1980, 1, 1))
    return services.save_person(
        None, Person(), {"dwelling": dwelling, **values}, source=PersonVersion.Source.OFFICE
    )


@pytest.mark.parametrize(
    ("lives", "registered", "verified", "expected"),
    [
        (True, True, "", Residence.CONSISTENT),
        (True, False, "", Residence.LIVES_NOT_REGISTERED),
        (False, True, "", Residence.REGISTERED_NOT_LIVING),
        (False, False, "", Residence.UNKNOWN),
        (True, True, Residence.REGISTERED_NOT_LIVING, Residence.REGISTERED_NOT_LIVING),
    ],
)
def test_classify(lives, registered, verified, expected):
    assert services.classify(lives, registered, verified) == expected


def test_living_at_another_dwelling_than_the_registered_one_is_not_consistent(world):
    home = world.persons["a1x"].dwelling
    elsewhere = world.persons["a1y"].dwelling
    person = Person(dwelling=home, registered_dwelling=elsewhere)
    assert services.residence_of(person) == Residence.LIVES_NOT_REGISTERED
    person.registered_dwelling = home
    assert services.residence_of(person) == Residence.CONSISTENT


def test_identity_number_gives_sex_and_birth_date_and_index(dwelling):
    person = _new(dwelling, identity_number=f" {NUMBER[:6]} {NUMBER[6:]} ", sex="F")
    assert person.identity_number == NUMBER
    assert (person.sex, person.birth_date) == (Person.Sex.MALE, BIRTH)
    assert person.identity_index == blind_index("identity", NUMBER)
    with unscoped():
        raw = Person.all_objects.filter(pk=person.pk).values_list("identity_number", flat=True)
        stored = list(raw.query.get_compiler("default").execute_sql(chunked_fetch=False))
    assert NUMBER not in str(stored)


def test_bad_identity_number_and_phone_save_nothing(dwelling):
    wrong_check = NUMBER[:-1] + ("0" if NUMBER[-1] != "0" else "1")
    with pytest.raises(ValidationError) as caught:
        _new(dwelling, identity_number=wrong_check, phone="12345", birth_date=BIRTH, sex="M")
    assert set(caught.value.message_dict) == {"identity_number", "phone"}
    with unscoped():
        assert not Person.all_objects.filter(name="王小明").exists()


def test_a_person_is_unique_by_identity_number(dwelling):
    _new(dwelling, identity_number=NUMBER)
    with pytest.raises(ValidationError) as caught:
        _new(dwelling, name="李四", identity_number=NUMBER.lower())
    assert "identity_number" in caught.value.message_dict


def test_every_change_is_versioned_with_who_and_what(dwelling, role_users):
    worker = role_users["grid_worker"]
    person = _new(dwelling, identity_number=NUMBER, phone="13812345678")
    changed = services.save_person(
        worker,
        person,
        {"name": "王晓明", "phone": "+86 139 1234 5678"},
        source=PersonVersion.Source.FIELD,
        expected_version=1,
    )
    assert changed.version == 2 and changed.updated_by == worker
    with unscoped():
        latest = PersonVersion.all_objects.get(person=person, version=2)
    assert latest.changed_by == worker and latest.source == "field"
    assert latest.changes == {"name": ["王小明", "王晓明"], "phone": "changed"}
    entry = AuditEntry.all_objects.filter(action="registry.person.update").latest("seq")
    assert "139" not in str(entry.after) and entry.actor == worker


def test_saving_the_same_values_makes_no_version(dwelling):
    person = _new(dwelling, phone="13812345678")
    again = services.save_person(
        None, person, {"phone": "138 1234 5678"}, source=PersonVersion.Source.OFFICE
    )
    assert again.version == 1
    with unscoped():
        assert PersonVersion.all_objects.filter(person=person).count() == 1


def test_a_form_opened_before_someone_elses_save_is_refused(dwelling):
    person = _new(dwelling)
    services.save_person(None, person, {"name": "甲"}, source="office", expected_version=1)
    with pytest.raises(services.StaleRecord):
        services.save_person(None, person, {"name": "乙"}, source="field", expected_version=1)
    person.refresh_from_db()
    assert person.name == "甲"


def test_reveal_needs_a_reason_and_is_audited(dwelling, role_users):
    person = _new(dwelling, phone="13812345678")
    worker = role_users["grid_worker"]
    with pytest.raises(ValidationError):
        services.reveal(worker, person, "phone", " ab ")
    assert services.reveal(worker, person, "phone", "call about the visit") == "13812345678"
    entry = AuditEntry.all_objects.get(kind=AuditEntry.Kind.SENSITIVE_READ)
    assert (entry.action, entry.note, entry.actor) == (
        "reveal.phone",
        "call about the visit",
        worker,
    )
    assert services.masked(person, "phone") == "138****5678"


def test_missing_basics_are_field_errors(world):
    with pytest.raises(ValidationError) as caught:
        services.save_person(None, Person(), {"name": "赵六"}, source="office")
    assert set(caught.value.message_dict) == {"sex", "birth_date", "dwelling"}


def test_person_hangs_off_where_they_live_or_else_where_registered(world):
    home = world.persons["a1x"].dwelling
    registered = world.persons["b1x"].dwelling
    person = _new(home, registered_dwelling=registered)
    assert person.territory_code == home.territory_code
    gone = services.save_person(
        None,
        Person(),
        {"name": "赵六", "sex": "M", "birth_date": BIRTH, "registered_dwelling": registered},
        source="office",
    )
    assert gone.territory_code == registered.territory_code
    assert gone.residence == Residence.REGISTERED_NOT_LIVING


def test_a_duplicate_saved_at_the_same_moment_is_a_field_error(dwelling, monkeypatch):
    """Two offices save the same number at once: both pass the check, the constraint decides,
    and the loser sees the same message instead of a server error."""
    _new(dwelling, identity_number=NUMBER)
    monkeypatch.setattr(services, "identity_taken", lambda *args, **kwargs: False)
    with pytest.raises(ValidationError) as caught:
        _new(dwelling, name="李四", identity_number=NUMBER)
    assert "identity_number" in caught.value.message_dict
    with unscoped():
        assert (
            Person.all_objects.filter(identity_index=blind_index("identity", NUMBER)).count() == 1
        )


def test_identity_taken_sees_rows_indexed_under_an_old_key(dwelling, settings):
    from cryptography.fernet import Fernet

    _new(dwelling, identity_number=NUMBER)
    old_key = settings.JIEDAO_FIELD_KEY
    settings.JIEDAO_FIELD_KEY = Fernet.generate_key().decode()
    settings.JIEDAO_FIELD_KEYS_OLD = old_key
    assert services.identity_taken(NUMBER)


def test_the_admin_neither_shows_nor_changes_personal_data(client, dwelling, role_users):
    person = _new(dwelling, identity_number=NUMBER, phone="13812345678")
    client.force_login(role_users["system_admin"])
    response = client.get(f"/admin/registry/person/{person.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert NUMBER not in html and "13812345678" not in html
    assert (
        client.post(f"/admin/registry/person/{person.pk}/change/", {"name": "x"}).status_code == 403
    )

"""Person pages × every role × a person in grid A1x, one in grid A1y (same community, other
grid) and one in street B. Expectations come from tests/registry/people_helpers.py BROWSE,
written out by hand from domain.md §10, not from the implementation."""

from __future__ import annotations

import pytest

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.registry.models import PersonVersion
from tests.registry.people_helpers import (
    BROWSE,
    EDITORS,
    REVEALERS,
    people,
    sheet_rows,
    status_for,
)

ROLES = list(Role)
KEYS = ["a1x", "a1y", "b1x"]


@pytest.fixture
def someone(world):
    return people(world)


@pytest.mark.parametrize("role", ROLES)
def test_person_list_shows_exactly_the_roles_territory(client, someone, role_users, role):
    client.force_login(role_users[role])
    response = client.get("/registry/people/")
    if BROWSE[role] is None:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    shown = {
        key for key, s in someone.items() if f"/registry/people/{s.person.pk}/" in response.text
    }
    assert shown == BROWSE[role]
    for s in someone.values():  # never in clear on a list
        assert s.identity not in response.text and s.phone not in response.text


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", KEYS)
def test_person_page(client, someone, role_users, role, key):
    client.force_login(role_users[role])
    s = someone[key]
    response = client.get(f"/registry/people/{s.person.pk}/")
    assert response.status_code == status_for(role, key), (role, key)
    if response.status_code == 200:
        assert s.identity not in response.text and s.phone not in response.text
        reveal_url = f"/registry/people/{s.person.pk}/reveal/phone/"
        assert (reveal_url in response.text) == (role in REVEALERS), role
        assert (f"/registry/people/{s.person.pk}/edit/" in response.text) == (role in EDITORS)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", KEYS)
def test_household_page(client, someone, role_users, role, key):
    client.force_login(role_users[role])
    s = someone[key]
    response = client.get(f"/registry/households/{s.person.household_id}/")
    assert response.status_code == status_for(role, key), (role, key)
    if response.status_code == 200:
        assert s.person.name in response.text
        assert f"{s.phone[:3]}****{s.phone[-4:]}" in response.text  # masked, not absent
        assert s.phone not in response.text


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", KEYS)
def test_reveal_form(client, someone, role_users, role, key):
    client.force_login(role_users[role])
    s = someone[key]
    response = client.get(f"/registry/people/{s.person.pk}/reveal/identity_number/")
    assert response.status_code == status_for(role, key, REVEALERS), (role, key)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", KEYS)
def test_reveal_post_is_refused_or_audited(client, someone, role_users, role, key):
    client.force_login(role_users[role])
    s = someone[key]
    response = client.post(
        f"/registry/people/{s.person.pk}/reveal/phone/", {"reason": "回访核实联系方式"}
    )
    expected = status_for(role, key, REVEALERS)
    assert response.status_code == expected, (role, key)
    with unscoped():
        reads = AuditEntry.objects.filter(
            kind=AuditEntry.Kind.SENSITIVE_READ, action="reveal.phone"
        )
        assert reads.count() == (1 if expected == 200 else 0)
    assert (s.phone in response.text) == (expected == 200)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", KEYS)
def test_edit_page(client, someone, role_users, role, key):
    client.force_login(role_users[role])
    s = someone[key]
    response = client.get(f"/registry/people/{s.person.pk}/edit/")
    assert response.status_code == status_for(role, key, EDITORS), (role, key)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", KEYS)
def test_edit_post_is_refused_without_permission(client, someone, role_users, role, key):
    client.force_login(role_users[role])
    s = someone[key]
    response = client.post(
        f"/registry/people/{s.person.pk}/edit/",
        {
            "version": s.person.version,
            "name": "改名",
            "building": s.person.dwelling.building_id,
            "dwelling": s.person.dwelling_id,
        },
    )
    expected = status_for(role, key, EDITORS)
    assert response.status_code == (302 if expected == 200 else expected), (role, key)
    with unscoped():
        newer = PersonVersion.all_objects.filter(person=s.person, version__gt=s.person.version)
        assert newer.exists() == (expected == 200)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", KEYS)
def test_new_person_page(client, someone, role_users, role, key):
    client.force_login(role_users[role])
    dwelling = someone[key].person.dwelling_id
    response = client.get(f"/registry/people/new/?dwelling={dwelling}")
    assert response.status_code == status_for(role, key, EDITORS), (role, key)


@pytest.mark.parametrize("role", ROLES)
def test_export_is_scoped_and_masked(client, someone, role_users, role):
    client.force_login(role_users[role])
    response = client.get("/registry/people/?format=xlsx")
    if BROWSE[role] is None:
        assert response.status_code == 403
        return
    rows = sheet_rows(response)
    names = {row[0] for row in rows[1:]}
    assert names == {someone[key].person.name for key in BROWSE[role]}
    flat = str(rows)
    assert all(s.identity not in flat and s.phone not in flat for s in someone.values())


@pytest.mark.parametrize("role", ROLES)
def test_dwelling_options_need_the_edit_permission(client, someone, role_users, role):
    client.force_login(role_users[role])
    building = someone["a1x"].person.dwelling.building_id
    response = client.get(f"/registry/people/dwellings/?building={building}")
    if role not in EDITORS:
        assert response.status_code == 403
        return
    room = someone["a1x"].person.dwelling
    assert response.status_code == 200
    assert (f'value="{room.pk}"' in response.text) == ("a1x" in BROWSE[role])


def test_signed_out_visitors_are_sent_to_sign_in(client, someone):
    pk = someone["a1x"].person.pk
    for url in (
        "/registry/people/",
        f"/registry/people/{pk}/",
        f"/registry/people/{pk}/edit/",
        f"/registry/people/{pk}/reveal/phone/",
        "/registry/people/new/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/" in response["Location"], url


def test_unknown_sensitive_field_is_404(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    response = client.get(f"/registry/people/{someone['a1x'].person.pk}/reveal/name/")
    assert response.status_code == 404

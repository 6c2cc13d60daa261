"""Reveal on a person's page: a reason, one audit entry, the plaintext in place of the mask."""

from __future__ import annotations

import pytest

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from tests import factories as f
from tests.registry.people_helpers import ADDRESS, people

HTMX = {"HTTP_HX_REQUEST": "true"}
HTTP_EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def someone(world):
    return people(world)


def _reads():
    with unscoped():
        return list(AuditEntry.objects.filter(kind=AuditEntry.Kind.SENSITIVE_READ))


def test_the_person_page_shows_masks_and_reveal_buttons(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    s = someone["a1x"]
    page = client.get(f"/registry/people/{s.person.pk}/").text
    assert "110119********1239" in page and "138****5678" in page and "香水园路12号" in page
    for field in ("identity_number", "phone", "registered_address"):
        assert f"/registry/people/{s.person.pk}/reveal/{field}/" in page
    assert s.identity not in page and ADDRESS not in page


def test_reveal_with_a_reason_shows_the_value_and_writes_one_entry(client, someone, role_users):
    worker = role_users[Role.GRID_WORKER]
    client.force_login(worker)
    s = someone["a1x"]
    url = f"/registry/people/{s.person.pk}/reveal/identity_number/"
    form = client.get(url, **HTMX)
    assert form.status_code == 200 and 'name="reason"' in form.text
    assert "<html" not in form.text  # a fragment for htmx to swap in
    assert not _reads()  # opening the form reads nothing
    shown = client.post(url, {"reason": "办理高龄津贴核对身份"}, **HTMX)
    assert shown.status_code == 200 and s.identity in shown.text
    assert "no-store" in shown["Cache-Control"]
    (entry,) = _reads()
    assert (entry.action, entry.actor, entry.note) == (
        "reveal.identity_number",
        worker,
        "办理高龄津贴核对身份",
    )
    assert (entry.object_type, entry.object_id) == ("registry.person", str(s.person.pk))
    assert entry.territory_code == s.person.territory_code
    assert s.identity not in str(entry.before) + str(entry.after) + entry.object_repr


def test_a_too_short_reason_is_a_form_error_and_reads_nothing(client, someone, role_users):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    s = someone["a1y"]
    response = client.post(
        f"/registry/people/{s.person.pk}/reveal/phone/", {"reason": " 看看 "}, **HTTP_EN, **HTMX
    )
    assert response.status_code == 200
    assert "at least 4 characters" in response.text and 'name="reason"' in response.text
    assert s.phone not in response.text
    assert not _reads()


def test_an_empty_reason_is_a_form_error(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    s = someone["a1x"]
    response = client.post(f"/registry/people/{s.person.pk}/reveal/phone/", {"reason": ""}, **HTMX)
    assert "errorlist" in response.text and s.phone not in response.text
    assert not _reads()


def test_reveal_without_javascript_is_a_page_of_its_own(client, someone, role_users):
    client.force_login(role_users[Role.STREET_LEADER])
    s = someone["a1x"]
    url = f"/registry/people/{s.person.pk}/reveal/registered_address/"
    assert "<html" in client.get(url).text
    shown = client.post(url, {"reason": "核对户籍地址以便寄送通知"})
    assert "<html" in shown.text and ADDRESS in shown.text
    assert len(_reads()) == 1


def test_reveal_is_forbidden_to_a_role_that_may_only_browse(client, someone, role_users):
    client.force_login(role_users[Role.COMMITTEE_MEMBER])
    s = someone["a1x"]
    page = client.get(f"/registry/people/{s.person.pk}/").text
    assert "/reveal/" not in page and "138****5678" in page
    response = client.post(
        f"/registry/people/{s.person.pk}/reveal/phone/", {"reason": "想看看号码"}
    )
    assert response.status_code == 403 and s.phone not in response.text
    assert not _reads()


def test_reveal_of_a_person_in_the_next_grid_is_not_found(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    s = someone["a1y"]
    response = client.post(
        f"/registry/people/{s.person.pk}/reveal/phone/", {"reason": "核实电话号码"}
    )
    assert response.status_code == 404 and s.phone not in response.text
    assert not _reads()


def test_reveal_of_an_empty_value_shows_no_button(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    bare = f.PersonFactory(household=someone["a1x"].person.household)
    page = client.get(f"/registry/people/{bare.pk}/").text
    assert f"/registry/people/{bare.pk}/reveal/phone/" not in page

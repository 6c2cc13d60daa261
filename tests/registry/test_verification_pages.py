"""The grid worker's worklist (/registry/verify/) and the result form (/registry/verify/<id>/):
every role × inside and outside, masked personal data, bad input, a closed verification."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jiedao.accounts.roles import Role
from jiedao.registry.models import Person, Residence, Verification, Visit
from jiedao.registry.reconciliation import open_verifications, record_verification
from tests import factories as f
from tests.registry.reconciliation_fixtures import dwellings_in, person

R = Residence
WORKLIST = reverse("registry:worklist")
IDENTITY = "11010119900307123X"
PHONE = "13812345678"
# Status of the worklist and of a verification in grid A1x, per role (hand-written: the grid
# worker and the workstation verify; street staff and leaders may too; a superuser may do
# anything; readers who do not verify get 403).
WORKLIST_STATUS = {
    Role.RESIDENT: 403,
    Role.GRID_WORKER: 200,
    Role.WORKSTATION_STAFF: 200,
    Role.COMMITTEE_MEMBER: 403,
    Role.STREET_STAFF: 200,
    Role.STREET_LEADER: 200,
    Role.DEPARTMENT_STAFF: 403,
    Role.DISTRICT_ADMIN: 403,
    Role.SYSTEM_ADMIN: 200,
}
# Who sees the A1x item on their worklist.
LISTS_IT = {Role.GRID_WORKER, Role.WORKSTATION_STAFF, Role.STREET_STAFF, Role.STREET_LEADER}


@pytest.fixture
def client_en(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def verification(world):
    """An open verification of a person living in grid A1x, registered elsewhere."""
    home = dwellings_in(world.grid_a1x, 1)[0]
    person(home, None, name="李秀英", identity_number=IDENTITY, phone=PHONE)
    open_verifications()
    return Verification.all_objects.get()


def url(verification):
    return reverse("registry:verify", args=[verification.pk])


@pytest.mark.parametrize("role", list(Role))
def test_worklist_per_role(client_en, role_users, verification, role):
    client_en.force_login(role_users[role])
    response = client_en.get(WORKLIST)
    assert response.status_code == WORKLIST_STATUS[role]
    if response.status_code != 200:
        return
    page = response.content.decode()
    assert ("李秀英" in page) == (role in LISTS_IT)
    if role in LISTS_IT:
        assert url(verification) in page
        assert "110101********123X" in page and "138****5678" in page
        assert IDENTITY not in page and PHONE not in page
        assert str(verification.person.dwelling) in page  # where to knock


def test_worklist_of_another_grid_is_empty(client_en, world, verification):
    client_en.force_login(f.user_with_role(Role.GRID_WORKER, world.grid_a1y, username="g2"))
    page = client_en.get(WORKLIST).content.decode()
    assert "李秀英" not in page
    assert "Nothing to verify" in page


@pytest.mark.parametrize("role", list(Role))
def test_verify_form_per_role(client_en, role_users, verification, role):
    client_en.force_login(role_users[role])
    response = client_en.get(url(verification))
    assert response.status_code == WORKLIST_STATUS[role]
    if response.status_code == 200:
        assert "Save the result" in response.content.decode()


@pytest.mark.parametrize("who", ["grid_a1y", "street_b", "community_a2"])
def test_verify_form_outside_the_territory_is_404(client_en, world, verification, who):
    user = {
        "grid_a1y": lambda: f.user_with_role(Role.GRID_WORKER, world.grid_a1y, username="g2"),
        "street_b": lambda: f.user_with_role(Role.STREET_STAFF, world.street_b, username="sb"),
        "community_a2": lambda: f.user_with_role(
            Role.WORKSTATION_STAFF, world.community_a2, username="w2"
        ),
    }[who]()
    client_en.force_login(user)
    assert client_en.get(url(verification)).status_code == 404
    assert client_en.post(url(verification), {"result": R.GONE}).status_code == 404
    verification.refresh_from_db()
    assert verification.state == Verification.State.OPEN


def test_recording_the_result(client_en, role_users, verification):
    client_en.force_login(role_users[Role.GRID_WORKER])
    response = client_en.post(
        url(verification), {"result": R.CONSISTENT, "note": "本人在家"}, follow=True
    )
    assert response.redirect_chain == [(WORKLIST, 302)]
    page = response.content.decode()
    assert "Recorded for 李秀英" in page
    assert "Nothing to verify" in page
    verification.refresh_from_db()
    assert (verification.state, verification.result, verification.note) == (
        Verification.State.DONE,
        R.CONSISTENT,
        "本人在家",
    )
    assert Person.all_objects.get(pk=verification.person_id).residence == R.CONSISTENT


@pytest.mark.parametrize("result", ["unknown", "nonsense", ""])
def test_a_bad_result_is_refused_and_nothing_changes(client_en, role_users, verification, result):
    client_en.force_login(role_users[Role.GRID_WORKER])
    response = client_en.post(url(verification), {"result": result})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Choose what you found at the door." in page or "This field is required." in page
    verification.refresh_from_db()
    assert verification.state == Verification.State.OPEN
    assert Person.all_objects.get(pk=verification.person_id).verified_residence == ""
    assert not Visit.all_objects.exists()


def test_a_note_too_long_is_refused(client_en, role_users, verification):
    client_en.force_login(role_users[Role.GRID_WORKER])
    response = client_en.post(url(verification), {"result": R.GONE, "note": "x" * 2001})
    assert response.status_code == 400
    verification.refresh_from_db()
    assert verification.state == Verification.State.OPEN


def test_someone_else_verified_first(client_en, role_users, verification):
    record_verification(role_users[Role.WORKSTATION_STAFF], verification, R.GONE, "搬走了")
    client_en.force_login(role_users[Role.GRID_WORKER])
    response = client_en.post(url(verification), {"result": R.CONSISTENT})
    assert response.status_code == 409
    page = response.content.decode()
    assert "This verification was already recorded by" in page
    assert str(role_users[Role.WORKSTATION_STAFF]) in page
    assert "Nothing was changed." in page
    assert Person.all_objects.get(pk=verification.person_id).residence == R.GONE
    # Opening it again says the same, without a form.
    again = client_en.get(url(verification))
    assert again.status_code == 200
    assert "already recorded" in again.content.decode()
    assert "Save the result" not in again.content.decode()


def test_anonymous_is_sent_to_sign_in(client_en, verification):
    assert client_en.get(WORKLIST).status_code == 302
    assert client_en.post(url(verification), {"result": R.GONE}).status_code == 302
    verification.refresh_from_db()
    assert verification.state == Verification.State.OPEN


def test_unknown_verification_is_404(client_en, role_users, verification):
    client_en.force_login(role_users[Role.GRID_WORKER])
    assert (
        client_en.get(reverse("registry:verify", args=[verification.pk + 1000])).status_code == 404
    )

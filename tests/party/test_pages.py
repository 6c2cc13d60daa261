"""The party pages for every role, inside and outside its territory; forms and bad input."""

from __future__ import annotations

from io import BytesIO

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.party.models import Form, PartyMember, PartyOrganisation
from jiedao.party.views import display_name
from tests import factories as f
from tests.party.conftest import member_count, people_in

pytestmark = pytest.mark.django_db

READERS = {
    Role.GRID_WORKER,
    Role.WORKSTATION_STAFF,
    Role.COMMITTEE_MEMBER,
    Role.STREET_STAFF,
    Role.STREET_LEADER,
    Role.DISTRICT_ADMIN,
    Role.SYSTEM_ADMIN,
}
# Which organisations of the party fixture each role sees (expectations from the brief).
SEES = {
    Role.GRID_WORKER: {"a1x"},
    Role.WORKSTATION_STAFF: {"a1x", "a1"},
    Role.COMMITTEE_MEMBER: {"a1x", "a1"},
    Role.STREET_STAFF: {"a1x", "a1", "street_a"},
    Role.STREET_LEADER: {"a1x", "a1", "street_a"},
    Role.DISTRICT_ADMIN: {"a1x", "a1", "street_a", "b1"},
    Role.SYSTEM_ADMIN: {"a1x", "a1", "street_a", "b1"},
}
# Which organisations each role may change (add members to, edit).
CHANGES = {
    Role.WORKSTATION_STAFF: {"a1x", "a1"},
    Role.COMMITTEE_MEMBER: {"a1x", "a1"},
    Role.STREET_STAFF: {"a1x", "a1", "street_a"},
    Role.STREET_LEADER: {"a1x", "a1", "street_a"},
    Role.SYSTEM_ADMIN: {"a1x", "a1", "street_a", "b1"},
}
TARGETS = ["a1x", "a1", "street_a", "b1"]


@pytest.mark.parametrize("role", list(Role))
def test_who_sees_the_tree(client, party, role_users, role):
    client.force_login(role_users[role])
    response = client.get(reverse("party:tree"))
    assert response.status_code == (200 if role in READERS else 403)
    if role in READERS:
        html = response.content.decode()
        assert party.a1x.name in html
        assert (party.b1.name in html) == ("b1" in SEES[role])
        assert (party.street_a.name in html) == ("street_a" in SEES[role])


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("target", TARGETS)
def test_who_sees_which_organisation(client, party, role_users, role, target):
    client.force_login(role_users[role])
    response = client.get(reverse("party:organisation", args=[getattr(party, target).pk]))
    if role not in READERS:
        assert response.status_code == 403
    else:
        assert response.status_code == (200 if target in SEES[role] else 404)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("target", TARGETS)
def test_who_may_change_which_organisation(client, party, role_users, role, target):
    client.force_login(role_users[role])
    org = getattr(party, target)
    allowed = target in CHANGES.get(role, set())
    response = client.post(
        reverse("party:organisation_edit", args=[org.pk]),
        {"form": org.form, "name": "改名", "secretary": "王芳"},
    )
    org.refresh_from_db()
    if allowed:
        assert response.status_code == 302 and org.name == "改名"
    else:
        assert response.status_code in (403, 404) and org.name != "改名"
        expected = 404 if role in READERS and target not in SEES[role] else 403
        assert response.status_code == expected


@pytest.mark.parametrize("role", list(Role))
def test_who_may_add_a_member_inside_and_outside(client, world, party, role_users, role):
    [inside] = people_in(world.buildings["a1x"], 1)
    [outside] = people_in(world.buildings["b1x"], 1)
    client.force_login(role_users[role])
    before = member_count()
    for org, person, key in ((party.a1x, inside, "a1x"), (party.b1, outside, "b1")):
        url = reverse("party:member_add", args=[org.pk])
        response = client.post(url, {"person": person.pk, "kind": "resident", "status": "full"})
        if key in CHANGES.get(role, set()):
            assert response.status_code == 302
            assert PartyMember.all_objects.filter(person=person, organisation=org).exists()
        else:
            assert response.status_code in (403, 404)
            assert not PartyMember.all_objects.filter(person=person).exists()
    assert member_count() == before + sum(k in CHANGES.get(role, set()) for k in ("a1x", "b1"))


def test_the_tree_lists_flags_with_the_cited_rule(client, party, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    html = client.get(reverse("party:tree"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Fewer than 3 full members" in html  # each grid branch has one member
    assert "《中国共产党基层组织工作条例》" in html and "3 or more full members" in html
    assert "<details" in html and "<summary>" in html


def test_the_organisation_page_shows_counts_chart_and_members(client, world, party, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    html = client.get(
        reverse("party:organisation", args=[party.a1.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "data-chart=" in html and party.a1x.name in html and party.a1y.name in html
    assert world.persons["a1x"].name in html and world.persons["a1y"].name in html
    assert world.persons["a2x"].name not in html  # community A2's member
    assert "2 members listed, sub-organisations and reporting members included" in html


def test_the_export_has_a_row_per_organisation_with_flags_and_is_audited(client, party, role_users):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    response = client.get(reverse("party:export"))
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    names = [row[1] for row in rows[1:]]
    assert names == [party.a1.name, party.a1x.name, party.group_a1x.name, party.a1y.name]
    by_name = {row[1]: row for row in rows[1:]}
    assert by_name[party.a1y.name][7] == 1
    assert "3 or more full members" in by_name[party.a1y.name][12]
    with unscoped():
        assert AuditEntry.objects.filter(action="export.party-organisations").count() == 1


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.DEPARTMENT_STAFF])
def test_the_export_is_refused_to_non_readers(client, party, role_users, role):
    client.force_login(role_users[role])
    assert client.get(reverse("party:export")).status_code == 403


def test_setting_up_a_grid_branch_through_the_form(client, world, party, role_users):
    grid = f.GridFactory(community=world.community_a1, code="110119001001004", name="新网格")
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    url = reverse("party:organisation_add", args=[party.a1.pk])
    assert "新网格" in client.get(url).content.decode()
    response = client.post(url, {"node": grid.pk, "form": Form.BRANCH})
    org = PartyOrganisation.all_objects.get(territory_code=grid.code)
    assert response.status_code == 302 and response["Location"] == org.get_absolute_url()
    assert org.name == "新网格党支部" and org.parent == party.a1


def test_a_bad_form_choice_or_node_changes_nothing(client, world, party, role_users):
    f.GridFactory(community=world.community_a1, code="110119001001004")
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    url = reverse("party:organisation_add", args=[party.a1.pk])
    before = PartyOrganisation.all_objects.count()
    for data in (
        {"node": world.grid_a1x.pk, "form": Form.BRANCH},  # already has its branch
        {"node": world.grid_b1x.pk, "form": Form.BRANCH},  # another street's grid
        {"node": "", "form": Form.BRANCH},
    ):
        response = client.post(url, data)
        assert response.status_code == 200 and b"errorlist" in response.content
    response = client.post(url, {"node": "", "form": Form.COMMITTEE})
    assert response.status_code == 200
    assert PartyOrganisation.all_objects.count() == before


def test_a_future_founding_date_is_shown_on_the_form(client, world, party, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    url = reverse("party:organisation_edit", args=[party.a1.pk])
    response = client.post(url, {"form": Form.COMMITTEE, "name": "x", "founded_on": "2999-01-01"})
    assert response.status_code == 200 and "This date is in the future." in (
        response.content.decode()
    )
    party.a1.refresh_from_db()
    assert party.a1.form == Form.GENERAL_BRANCH


def test_add_member_search_and_refusals(client, world, party, role_users):
    [person] = people_in(world.buildings["a1x"], 1)
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    url = reverse("party:member_add", args=[party.a1x.pk])
    page = client.get(url, {"q": person.name}).content.decode()
    assert person.name in page and world.persons["a1x"].name not in page  # already a member
    before = member_count()
    already = client.post(
        url, {"person": world.persons["a1x"].pk, "kind": "resident", "status": "full"}
    )
    too_young = client.post(
        url, {"person": person.pk, "kind": "resident", "status": "full", "joined_on": "1980-01-01"}
    )
    assert already.status_code == too_young.status_code == 200
    assert "A member joins the Party at 18 or older." in too_young.content.decode()
    assert member_count() == before


def test_move_and_remove_through_the_member_page(client, world, party, role_users):
    member = PartyMember.all_objects.get(person=world.persons["a1x"])
    client.force_login(role_users[Role.STREET_STAFF])
    page = client.get(reverse("party:member", args=[member.pk])).content.decode()
    assert party.a2x.name in page and party.b1.name not in page  # only where they may change
    response = client.post(reverse("party:member_move", args=[member.pk]), {"target": party.b1.pk})
    assert response.status_code == 400
    response = client.post(reverse("party:member_move", args=[member.pk]), {"target": party.a2x.pk})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.organisation == party.a2x
    remove = reverse("party:member_remove", args=[member.pk])
    assert client.post(remove, {"reason": ""}).status_code == 400
    assert client.post(remove, {"reason": "迁出"}).status_code == 302
    assert not PartyMember.all_objects.filter(pk=member.pk).exists()


def test_member_pages_are_for_editors_in_scope(client, world, party, role_users):
    member = PartyMember.all_objects.get(person=world.persons["a1x"])
    url = reverse("party:member", args=[member.pk])
    expected = {
        Role.GRID_WORKER: 403,
        Role.WORKSTATION_STAFF: 200,
        Role.DISTRICT_ADMIN: 403,
        Role.RESIDENT: 403,
        Role.DEPARTMENT_STAFF: 403,
        Role.SYSTEM_ADMIN: 200,
    }
    for role, status in expected.items():
        client.force_login(role_users[role])
        assert client.get(url).status_code == status, role
    client.force_login(role_users[Role.STREET_STAFF])
    other = PartyMember.all_objects.get(person=world.persons["b1x"])
    assert client.get(reverse("party:member", args=[other.pk])).status_code == 404


def test_names_are_masked_for_readers_without_registry_access(world, party, role_users):
    person = world.persons["a1x"]
    assert display_name(role_users[Role.GRID_WORKER], person) == person.name
    outsider = role_users[Role.WORKSTATION_STAFF]  # community A1 staff, person in street B
    other = world.persons["b1x"]
    assert display_name(outsider, other) != other.name
    assert display_name(outsider, other).startswith(other.name[0])


def test_the_admin_lists_and_edits_organisations(client, party, role_users):
    client.force_login(role_users[Role.SYSTEM_ADMIN])
    assert party.a1.name in client.get("/admin/party/partyorganisation/").content.decode()
    assert client.get("/admin/party/partyorganisation/add/").status_code == 403
    response = client.post(
        f"/admin/party/partyorganisation/{party.a1.pk}/change/",
        {"name": "香水园社区党委", "form": Form.COMMITTEE, "secretary": "", "founded_on": ""},
    )
    assert response.status_code == 302, response.content[:3000]
    party.a1.refresh_from_db()
    assert party.a1.form == Form.COMMITTEE

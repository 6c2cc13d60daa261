"""Setting up organisations level by level, and adding, moving and removing members."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.party import services
from jiedao.party.models import Form, Level, PartyMember, PartyOrganisation
from jiedao.registry import care
from jiedao.registry.models import CareGroup, CareTag
from tests import factories as f
from tests.party.conftest import member_count, people_in

pytestmark = pytest.mark.django_db


def organisations() -> int:
    return PartyOrganisation.all_objects.count()


def audit_actions() -> list[str]:
    with unscoped():
        return list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))


def test_each_level_sits_under_the_organisation_of_its_parent_node(world, party):
    assert party.street_a.level == Level.STREET and party.street_a.parent is None
    assert party.a1.parent == party.street_a and party.a1.territory_code == "110119001001"
    assert party.a1x.parent == party.a1 and party.a1x.territory_code == "110119001001001"
    assert party.group_a1x.parent == party.a1x
    assert party.group_a1x.building == world.buildings["a1x"]
    assert party.group_a1x.territory_code == world.grid_a1x.code
    assert party.a1.name == "香水园社区党总支" and party.street_b.name == "儒林街道党工委"
    assert party.a1x.node == world.grid_a1x and party.street_a.node == world.street_a


def test_creation_is_audited(party):
    assert audit_actions().count("party.organisation.create") == 10


def test_a_node_below_an_organisation_less_parent_is_refused(world):
    before = organisations()
    with pytest.raises(ValidationError) as error:
        services.create_organisation(None, world.community_a1, Form.BRANCH)
    assert error.value.code == "parent_missing"
    assert "Street working committee" in str(error.value)
    assert organisations() == before


def test_one_organisation_per_node_and_level(world, party):
    before = organisations()
    with pytest.raises(ValidationError):
        services.create_organisation(None, world.community_a1, Form.BRANCH)
    with pytest.raises(ValidationError):
        services.create_organisation(None, world.buildings["a1x"], Form.GROUP)
    assert organisations() == before


def _new_node(world, level: str):
    if level == "street":
        return f.StreetFactory(district=world.district, code="110119003000")
    if level == "community":
        return f.CommunityFactory(street=world.street_a, code="110119001009")
    if level == "grid":
        return f.GridFactory(community=world.community_a1, code="110119001001009")
    return f.BuildingFactory(grid=world.grid_a1y)


@pytest.mark.parametrize(
    ("level", "form"),
    [
        ("street", Form.BRANCH),
        ("community", Form.GROUP),
        ("community", Form.WORKING_COMMITTEE),
        ("grid", Form.COMMITTEE),
        ("building", Form.BRANCH),
    ],
)
def test_a_form_the_level_does_not_have_is_refused(world, party, level, form):
    node = _new_node(world, level)
    before = organisations()
    with pytest.raises(ValidationError) as error:
        services.create_organisation(None, node, form)
    assert "form" in error.value.message_dict
    assert organisations() == before


def test_model_validation_refuses_a_parent_of_the_wrong_level_or_node(world, party):
    wrong_level = PartyOrganisation(
        level=Level.GRID,
        form=Form.BRANCH,
        name="错位支部",
        parent=party.street_a,
        territory_code=world.grid_a1y.code,
    )
    with pytest.raises(ValidationError) as error:
        wrong_level.clean()
    assert error.value.code == "parent_level"
    wrong_node = PartyOrganisation(
        level=Level.GRID,
        form=Form.BRANCH,
        name="错位支部",
        parent=party.a2,  # grid A1y lies in community A1, not A2
        territory_code=world.grid_a1y.code,
    )
    with pytest.raises(ValidationError) as error:
        wrong_node.clean()
    assert error.value.code == "parent_node"
    unknown = PartyOrganisation(
        level=Level.GRID, form=Form.BRANCH, name="无网格", parent=party.a1, territory_code="1" * 15
    )
    with pytest.raises(ValidationError) as error:
        unknown.clean()
    assert error.value.code == "node_missing"


def test_the_database_refuses_a_street_committee_with_a_parent_and_a_group_without_building(
    world, party
):
    with pytest.raises(IntegrityError), transaction.atomic():
        PartyOrganisation.all_objects.filter(pk=party.street_b.pk).update(parent=party.street_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        PartyOrganisation.all_objects.filter(pk=party.group_a1x.pk).update(building=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        PartyOrganisation.all_objects.filter(pk=party.a1x.pk).update(form=Form.WORKING_COMMITTEE)


def test_setting_up_needs_the_right_on_the_higher_organisation(world, party, role_users):
    community_staff = role_users[Role.WORKSTATION_STAFF]
    grid = f.GridFactory(community=world.community_a1, code="110119001001003")
    org = services.create_organisation(community_staff, grid, Form.BRANCH, secretary=" 王立 ")
    assert org.parent == party.a1 and org.secretary == "王立"
    before = organisations()
    other = f.CommunityFactory(street=world.street_a, code="110119001009")
    with pytest.raises(PermissionDenied):  # the community's organisation is the street's call
        services.create_organisation(community_staff, other, Form.BRANCH)
    with pytest.raises(PermissionDenied):
        services.create_organisation(role_users[Role.GRID_WORKER], grid, Form.BRANCH)
    assert organisations() == before


def test_a_founding_date_in_the_future_is_refused(world, party):
    grid = f.GridFactory(community=world.community_a1, code="110119001001003")
    before = organisations()
    with pytest.raises(ValidationError) as error:
        services.create_organisation(
            None, grid, Form.BRANCH, founded_on=date.today() + timedelta(days=2)
        )
    assert "founded_on" in error.value.message_dict
    assert organisations() == before


def test_changing_the_form_is_audited_with_before_and_after(party, role_users):
    street = role_users[Role.STREET_STAFF]
    services.update_organisation(
        street, party.a1, form=Form.COMMITTEE, name="香水园社区党委", secretary="李明"
    )
    party.a1.refresh_from_db()
    assert party.a1.form == Form.COMMITTEE and party.a1.name == "香水园社区党委"
    with unscoped():
        entry = AuditEntry.objects.get(action="party.organisation.update")
    assert entry.before["form"] == Form.GENERAL_BRANCH and entry.after["form"] == Form.COMMITTEE


def test_a_form_change_the_level_does_not_have_changes_nothing(party, role_users):
    with pytest.raises(ValidationError):
        services.update_organisation(
            role_users[Role.STREET_STAFF], party.a1x, form=Form.COMMITTEE, name="x"
        )
    assert party.a1x.form == Form.BRANCH and party.a1x.name != "x"  # the object as stored
    party.a1x.refresh_from_db()
    assert party.a1x.form == Form.BRANCH and party.a1x.name != "x"
    assert "party.organisation.update" not in audit_actions()


def test_add_member_records_and_audits(world, party, role_users):
    [person] = people_in(world.buildings["a1x"], 1)
    member = services.add_member(
        role_users[Role.WORKSTATION_STAFF],
        party.group_a1x,
        person,
        status=PartyMember.Status.PROBATIONARY,
        joined_on=date(2025, 7, 1),
    )
    assert member.territory_code == world.grid_a1x.code
    assert member.organisation == party.group_a1x
    assert "party.member.add" in audit_actions()


def test_a_person_is_a_member_of_one_organisation_only(world, party):
    before = member_count()
    with pytest.raises(ValidationError) as error:
        services.add_member(None, party.a1y, world.persons["a1x"])
    assert error.value.code == "already_member"
    assert member_count() == before


def test_members_join_at_18_and_not_in_the_future(world, party):
    [person] = people_in(world.buildings["a1x"], 1, born=date(2000, 3, 10))
    before = member_count()
    for joined in (date(2018, 3, 9), date.today() + timedelta(days=1)):
        with pytest.raises(ValidationError) as error:
            services.add_member(None, party.a1x, person, joined_on=joined)
        assert "joined_on" in error.value.message_dict
    assert member_count() == before
    services.add_member(None, party.a1x, person, joined_on=date(2018, 3, 10))
    assert member_count() == before + 1


def test_the_street_committee_keeps_no_members(world, party):
    [person] = people_in(world.buildings["a1x"], 1)
    with pytest.raises(ValidationError) as error:
        services.add_member(None, party.street_a, person)
    assert error.value.code == "street_members"


def test_members_are_added_only_by_editors_in_their_territory(world, party, role_users):
    [person] = people_in(world.buildings["a1x"], 1)
    [outsider] = people_in(world.buildings["b1x"], 1)
    before = member_count()
    with pytest.raises(PermissionDenied):
        services.add_member(role_users[Role.GRID_WORKER], party.a1x, person)
    with pytest.raises(PermissionDenied):
        services.add_member(role_users[Role.WORKSTATION_STAFF], party.b1x, outsider)
    with pytest.raises(PermissionDenied):  # the person lives outside the editor's territory
        services.add_member(role_users[Role.WORKSTATION_STAFF], party.a1x, outsider)
    assert member_count() == before


def test_move_member_changes_organisation_and_territory(world, party, role_users):
    street = role_users[Role.STREET_STAFF]
    member = PartyMember.all_objects.get(person=world.persons["a1x"])
    services.move_member(street, member, party.a2x)
    member.refresh_from_db()
    assert member.organisation == party.a2x and member.territory_code == world.grid_a2x.code
    with unscoped():
        entry = AuditEntry.objects.get(action="party.member.move.update")
    assert entry.before["organisation"] == party.a1x.pk
    assert entry.after["organisation"] == party.a2x.pk


def test_moves_out_of_the_editors_territory_or_to_the_same_place_are_refused(
    world, party, role_users
):
    member = PartyMember.all_objects.get(person=world.persons["a1x"])
    with pytest.raises(PermissionDenied):
        services.move_member(role_users[Role.WORKSTATION_STAFF], member, party.a2x)
    with pytest.raises(ValidationError):
        services.move_member(role_users[Role.STREET_STAFF], member, party.a1x)
    with pytest.raises(ValidationError):
        services.move_member(role_users[Role.STREET_STAFF], member, party.street_a)
    member.refresh_from_db()
    assert member.organisation == party.a1x


def test_remove_member_needs_a_reason_and_is_audited(world, party, role_users):
    member = PartyMember.all_objects.get(person=world.persons["a1x"])
    actor = role_users[Role.COMMITTEE_MEMBER]
    with pytest.raises(ValidationError):
        services.remove_member(actor, member, "  ")
    assert PartyMember.all_objects.filter(pk=member.pk).exists()
    services.remove_member(actor, member, "组织关系转出")
    assert not PartyMember.all_objects.filter(pk=member.pk).exists()
    with unscoped():
        entry = AuditEntry.objects.get(action="party.member.remove")
    assert entry.note == "组织关系转出" and entry.before["person"] == world.persons["a1x"].pk


def _party_tags(person):
    with unscoped():
        return CareTag.all_objects.filter(person=person, group=CareGroup.PARTY_MEMBER).count()


def test_the_registrys_party_member_group_follows_the_party_records(world, party, role_users):
    """Added as a member: in the 党员 care group (once, even if already tagged by hand);
    taken off: out of it."""
    actor = role_users[Role.WORKSTATION_STAFF]
    first, second = people_in(world.buildings["a1x"], 2)
    assert _party_tags(first) == _party_tags(second) == 0
    member = services.add_member(actor, party.group_a1x, first)
    assert _party_tags(first) == 1
    care.tag_person(actor, second, CareGroup.PARTY_MEMBER)
    services.add_member(actor, party.group_a1x, second)
    assert _party_tags(second) == 1
    services.remove_member(actor, member, "组织关系转出")
    assert _party_tags(first) == 0 and _party_tags(second) == 1
    assert {"registry.care.tag", "registry.care.untag"} <= set(audit_actions())

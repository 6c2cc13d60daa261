"""The demo party tree on a small generated world: shape, members from the registry, the size
rule flagging a community (新兴西, as in s000), determinism."""

from __future__ import annotations

import random
from collections import Counter
from unittest import mock

import pytest
from django.db import transaction
from django.utils import translation

from jiedao.accounts.roles import Role
from jiedao.core.scopes import unscoped
from jiedao.demo import world
from jiedao.demo.party import COMMUNITY_SHAPES, build_party_tree
from jiedao.demo.world import Plan, WorldBuilder
from jiedao.party import selectors
from jiedao.party.models import Form, Level, PartyMember, PartyOrganisation
from jiedao.registry.models import CareGroup, CareTag
from jiedao.territory.models import Building, Community, Grid
from tests import factories as f

pytestmark = pytest.mark.django_db
SCALE = 0.05


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """A small world without its case history, and its party tree (rolled back afterwards)."""
    with django_db_blocker.unblock(), transaction.atomic(), translation.override("en"):
        with (
            mock.patch.object(world, "add_case_history", lambda builder: None),
            mock.patch.object(world, "build_party_tree", lambda *args, **kwargs: {}),
        ):
            builder = WorldBuilder(Plan.for_scale(2026, SCALE))
            builder.build()
        with unscoped():
            builder.tagged_before = set(_tagged())  # the registry's own 党员 tags
            counts = build_party_tree(builder.street, random.Random("2026:party"))
            yield builder, counts
        transaction.set_rollback(True)


def _tagged() -> list[int]:
    return list(
        CareTag.objects.filter(group=CareGroup.PARTY_MEMBER).values_list("person_id", flat=True)
    )


def snapshot() -> list[tuple]:
    members = PartyMember.objects.order_by("person_id")
    return list(members.values_list("person_id", "organisation__name", "kind", "status"))


def test_every_street_community_and_grid_has_its_organisation(demo):
    builder, counts = demo
    levels = Counter(PartyOrganisation.objects.values_list("level", flat=True))
    assert levels[Level.STREET] == 1
    assert levels[Level.COMMUNITY] == Community.objects.count() == builder.plan.communities
    assert levels[Level.GRID] == Grid.objects.count()
    assert 0 < levels[Level.BUILDING] <= Building.objects.count()
    assert counts["partyorganisation"] == sum(levels.values())
    assert counts["partymember"] == PartyMember.objects.count()
    for org in PartyOrganisation.objects.all():
        org.full_clean()  # levels, parents and forms all hold


def test_members_are_adults_living_under_their_organisation(demo):
    for member in PartyMember.objects.select_related("person", "organisation")[:400]:
        assert member.person.territory_code.startswith(member.organisation.territory_code)
        born = member.person.birth_date
        assert member.joined_on >= born.replace(year=born.year + 18, day=min(born.day, 28))
        if member.organisation.level == Level.BUILDING:
            assert member.person.dwelling.building_id == member.organisation.building_id


def test_the_second_community_is_a_general_branch_of_100_plus_flagged_for_a_committee(demo):
    builder, _ = demo
    street_user = f.user_with_role(Role.STREET_STAFF, builder.street, username="party-demo")
    nodes = {n.organisation.name: n for n in selectors.flatten(selectors.tree(street_user))}
    xinxing = nodes["新兴西社区党总支"]
    assert xinxing.organisation.form == Form.GENERAL_BRANCH
    assert xinxing.total.counted >= 100
    assert [flag.code for flag in xinxing.flags] == ["may_form_committee"]
    fine = [n for n in nodes.values() if n.organisation.form == Form.BRANCH and not n.flags]
    assert fine, "some branches fit their size"


def test_community_sizes_follow_s000_capped_at_half_the_adults(demo):
    communities = PartyOrganisation.objects.filter(level=Level.COMMUNITY).order_by("territory_code")
    forms = [org.form for org in communities]
    assert forms == [form for _, form in COMMUNITY_SHAPES[: len(forms)]]
    registered = PartyMember.objects.filter(kind=PartyMember.Kind.REGISTERED).count()
    counted = PartyMember.objects.filter(kind=PartyMember.Kind.RESIDENT).count()
    assert 0 < registered < counted * 0.15


def test_members_are_tagged_in_the_registry_and_tagged_adults_chosen_first(demo):
    """Every member carries the registry's 党员 tag; adults the registry had already tagged (none
    in the demo: demo/registry.py leaves 党员 to the party tree) are chosen first."""
    builder, _ = demo
    members = set(PartyMember.objects.values_list("person_id", flat=True))
    assert members and members <= set(_tagged())
    adults_tagged = set(
        CareTag.objects.filter(
            group=CareGroup.PARTY_MEMBER,
            person_id__in=builder.tagged_before,
            person__birth_date__lte="2008-01-01",
        ).values_list("person_id", flat=True)
    )
    assert adults_tagged <= members


def test_the_same_seed_gives_the_same_tree_and_another_seed_another(demo):
    builder, _ = demo
    first = snapshot()
    for seed, same in (("2026:party", True), ("other", False)):
        with transaction.atomic():
            PartyMember.objects.all().delete()
            ours = CareTag.objects.filter(group=CareGroup.PARTY_MEMBER)
            ours.exclude(person_id__in=builder.tagged_before).delete()
            for level in ("building", "grid", "community", "street"):
                PartyOrganisation.objects.filter(level=level).delete()
            build_party_tree(builder.street, random.Random(seed))
            assert (snapshot() == first) is same
            transaction.set_rollback(True)

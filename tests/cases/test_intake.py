"""Intake: location to grid, coordinate systems, bad input, idempotency, the first event."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from jiedao.audit.models import AuditEntry
from jiedao.cases import coords
from jiedao.cases.models import Case, CaseEvent, DeliveryState, Node, PublicStatus
from jiedao.cases.services import submit_case
from jiedao.core.scopes import unscoped
from tests.cases.conftest import inside, submit

pytestmark = pytest.mark.django_db


def test_a_case_lands_in_its_grid_community_and_street(case, world):
    assert case.grid == world.grid_a1x
    assert (case.territory_code, case.community_code, case.street_code) == (
        "110119001001001",
        "110119001001",
        "110119001000",
    )
    assert (case.node, case.public_status) == (Node.RECEIVED, PublicStatus.OPEN)
    assert case.handler_type == "" and case.delivery_state == DeliveryState.NONE
    with unscoped():
        event = CaseEvent.objects.get(case=case)
        assert (event.action, event.from_node, event.to_node) == ("submit", "", Node.RECEIVED)
        assert AuditEntry.objects.filter(
            action="cases.case.create", object_id=str(case.pk)
        ).exists()


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_web_map_coordinates_are_converted_to_wgs84(world, categories, crs):
    lng, lat = inside(world.grid_a1y)
    gcj = coords.wgs84_to_gcj02(lng, lat)
    given = gcj if crs == "gcj02" else coords.gcj02_to_bd09(*gcj)
    case = submit_case(
        None,
        channel="web",
        category=categories["sanitation"],
        description="路灯不亮",
        lng=given[0],
        lat=given[1],
        crs=crs,
    ).case
    assert case.grid == world.grid_a1y
    assert case.lng == pytest.approx(lng, abs=1e-7) and case.lat == pytest.approx(lat, abs=1e-7)


@pytest.mark.parametrize(
    "lng,lat", [(116.404, 39.915), (122.5, 30.0), (2.35, 48.85), (float("nan"), 40.0)]
)
def test_a_point_outside_the_street_is_refused_and_nothing_is_created(world, categories, lng, lat):
    with pytest.raises(ValidationError):
        submit_case(
            None,
            channel="web",
            category=categories["sanitation"],
            description="x",
            lng=lng,
            lat=lat,
        )
    with unscoped():
        assert not Case.objects.exists()


def test_a_standard_address_places_the_case(world, categories):
    address = world.buildings["a2x"].address
    case = submit_case(
        None, channel="hotline", category=categories["sanitation"], description="x", address=address
    ).case
    assert case.grid == world.grid_a2x and case.address == address


def test_no_location_at_all_is_refused(categories, world):
    with pytest.raises(ValidationError) as error:
        submit_case(None, channel="web", category=categories["sanitation"], description="x")
    assert error.value.code == "location"


def test_a_main_category_or_an_inactive_one_is_refused(world, categories):
    with pytest.raises(ValidationError):
        submit(world.grid_a1x, categories["main"])
    categories["drainage"].active = False
    categories["drainage"].save()
    with pytest.raises(ValidationError):
        submit(world.grid_a1x, categories["drainage"])


def test_an_empty_description_is_refused(world, categories):
    with pytest.raises(ValidationError):
        submit(world.grid_a1x, categories["sanitation"], description="   ")


def test_a_retried_submission_returns_the_first_case(world, categories):
    first = submit(
        world.grid_a1x, categories["sanitation"], source_system="12345", idempotency_key="k1"
    )
    lng, lat = inside(world.grid_a1x)
    again = submit_case(
        None,
        channel="api",
        category=categories["sanitation"],
        description="重试",
        lng=lng,
        lat=lat,
        source_system="12345",
        idempotency_key="k1",
    )
    assert again.created is False and again.case.pk == first.pk
    other_system = submit(
        world.grid_a1x, categories["sanitation"], source_system="open311", idempotency_key="k1"
    )
    assert other_system.pk != first.pk
    assert first.delivery_state == DeliveryState.PENDING
    with unscoped():
        assert Case.objects.count() == 2


def test_an_anonymous_caller_leaves_no_name(world, categories):
    case = submit(world.grid_a1x, categories["sanitation"], caller_name="王五", anonymous=True)
    assert case.caller_name == "" and case.anonymous


def test_the_callers_contact_stays_out_of_the_audit_trail(case):
    from jiedao.cases.services import transition

    transition(None, case, "register")
    with unscoped():
        entries = list(
            AuditEntry.objects.filter(object_id=str(case.pk), action__startswith="cases.")
        )
    assert len(entries) == 2
    for entry in entries:
        for picture in (entry.before or {}, entry.after or {}):
            assert "caller_phone" not in picture and "13800138000" not in str(picture)

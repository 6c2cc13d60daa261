"""The case pages: who may open each, what each shows, and the steps taken through them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jiedao.accounts.roles import Role
from jiedao.cases.models import Case, Channel, Node
from jiedao.cases.services import transition
from jiedao.core.scopes import unscoped
from tests.cases.conftest import inside, submit

pytestmark = pytest.mark.django_db

ALL_ROLES = list(Role)
DISPATCH = {Role.STREET_STAFF, Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
HANDLE = {Role.WORKSTATION_STAFF, Role.STREET_STAFF, Role.DEPARTMENT_STAFF, Role.SYSTEM_ADMIN}
GRID = {Role.GRID_WORKER, Role.SYSTEM_ADMIN}
PAGE_ROLES = {
    "cases:desk": DISPATCH,
    "cases:hotline": DISPATCH,
    "cases:inbox": HANDLE,
    "cases:todo": GRID,
    "cases:patrol": GRID,
    "cases:report": set(ALL_ROLES),
    "cases:mine": set(ALL_ROLES),
}


@pytest.fixture(autouse=True)
def english(client):
    """Messages are checked in English (the UI defaults to zh-hans)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def _stored(case) -> Case:
    with unscoped():
        return Case.objects.get(pk=case.pk)


@pytest.mark.parametrize("page", sorted(PAGE_ROLES))
@pytest.mark.parametrize("role", ALL_ROLES)
def test_each_page_opens_for_its_roles_only(client, role_users, categories, page, role):
    client.force_login(role_users[role])
    response = client.get(reverse(page))
    assert response.status_code == (200 if role in PAGE_ROLES[page] else 403)


def test_pages_need_a_sign_in_except_the_public_map(client, categories):
    for page in PAGE_ROLES:
        assert client.get(reverse(page)).status_code == 302
    assert client.get(reverse("cases:public_map")).status_code == 200


@pytest.mark.parametrize("role", ALL_ROLES)
def test_case_page_inside_and_outside_the_territory(client, world, role_users, categories, role):
    inside_case = submit(world.grid_a1x, categories["sanitation"])  # street A, community A1
    outside_case = submit(world.grid_b1x, categories["sanitation"])  # street B
    client.force_login(role_users[role])
    sees_a1 = role not in {Role.RESIDENT, Role.DEPARTMENT_STAFF}
    assert client.get(reverse("cases:detail", args=[inside_case.pk])).status_code == (
        200 if sees_a1 else 404
    )
    sees_b = role in {Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
    assert client.get(reverse("cases:detail", args=[outside_case.pk])).status_code == (
        200 if sees_b else 404
    )


def test_department_sees_a_case_once_it_holds_it(client, world, role_users, case):
    department = role_users[Role.DEPARTMENT_STAFF]
    client.force_login(department)
    url = reverse("cases:detail", args=[case.pk])
    assert client.get(url).status_code == 404
    transition(None, case, "register")
    transition(None, case, "dispatch", handler_type="department", department=world.department)
    assert client.get(url).status_code == 200
    inbox = client.get(reverse("cases:inbox"))
    assert f'href="{url}"' in inbox.content.decode()


def test_desk_queues_count_and_list_the_street_cases(client, world, role_users, categories):
    first = submit(world.grid_a1x, categories["sanitation"])
    second = submit(world.grid_a2x, categories["sanitation"])
    submit(world.grid_b1x, categories["sanitation"])  # another street: not on this desk
    transition(None, second, "register")
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(reverse("cases:desk"))
    counts = {name: count for name, _, count in response.context["queues"]}
    assert counts["received"] == 1 and counts["registered"] == 1
    assert [c.pk for c in response.context["page_obj"].object_list] == [first.pk]
    registered = client.get(reverse("cases:desk"), {"queue": "registered"})
    assert [c.pk for c in registered.context["page_obj"].object_list] == [second.pk]


def test_desk_bulk_register_then_dispatch_by_the_routing_table(
    client, world, role_users, categories
):
    cases = [submit(world.grid_a1x, categories["sanitation"]) for _ in range(3)]
    client.force_login(role_users[Role.STREET_STAFF])
    url = reverse("cases:desk")
    client.post(url, {"action": "register", "case": [c.pk for c in cases]})
    assert {_stored(c).node for c in cases} == {Node.REGISTERED}
    client.post(url + "?queue=registered", {"action": "dispatch", "case": [cases[0].pk]})
    dispatched = _stored(cases[0])
    assert dispatched.node == Node.DISPATCHED
    assert dispatched.handler_unit_code == world.community_a1.code  # sanitation → community


def test_desk_bulk_ignores_cases_outside_the_street(client, world, role_users, categories):
    outside = submit(world.grid_b1x, categories["sanitation"])
    client.force_login(role_users[Role.STREET_STAFF])
    client.post(reverse("cases:desk"), {"action": "register", "case": [outside.pk]})
    assert _stored(outside).node == Node.RECEIVED


def test_desk_filters_and_export(client, world, role_users, categories):
    submit(world.grid_a1x, categories["sanitation"], description="垃圾桶满了")
    submit(world.grid_a1x, categories["sanitation"], description="路灯不亮", urgent=True)
    client.force_login(role_users[Role.STREET_STAFF])
    found = client.get(reverse("cases:desk"), {"q": "路灯"})
    assert [c.description for c in found.context["page_obj"].object_list] == ["路灯不亮"]
    urgent = client.get(reverse("cases:desk"), {"urgent": "on"})
    assert len(urgent.context["page_obj"].object_list) == 1
    export = client.get(reverse("cases:desk"), {"format": "xlsx"})
    assert export["Content-Type"].startswith("application/vnd.openxmlformats")


def test_steps_through_the_case_page_and_a_stale_form_is_a_conflict(client, role_users, case):
    client.force_login(role_users[Role.STREET_STAFF])
    url = reverse("cases:act", args=[case.pk])
    client.post(url, {"action": "register", "expected_node": "received"})
    assert _stored(case).node == Node.REGISTERED
    # A second dispatcher still looking at "received" gets a clear conflict, nothing changes.
    response = client.post(url, {"action": "register", "expected_node": "received"}, follow=True)
    assert _stored(case).node == Node.REGISTERED
    assert "Someone else changed this case first" in response.content.decode()


def test_a_step_outside_ones_role_changes_nothing(client, role_users, case):
    client.force_login(role_users[Role.GRID_WORKER])
    response = client.post(
        reverse("cases:act", args=[case.pk]),
        {"action": "register", "expected_node": "received"},
        follow=True,
    )
    assert _stored(case).node == Node.RECEIVED
    assert "You may not do this" in response.content.decode()


def test_case_page_offers_only_the_steps_the_user_may_take(client, role_users, case):
    client.force_login(role_users[Role.STREET_STAFF])
    offered = [s["action"] for s in client.get(case.get_absolute_url()).context["actions"]]
    assert offered == ["register", "reject"]
    client.force_login(role_users[Role.GRID_WORKER])
    assert client.get(case.get_absolute_url()).context["actions"] == []


def test_caller_contact_shown_to_the_territory_not_to_a_summoned_department(
    client, world, role_users, case
):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    page = client.get(case.get_absolute_url()).content.decode()
    assert "138****8000" in page and "13800138000" not in page  # masked until revealed
    transition(None, case, "register")
    from jiedao.cases.summons import summon_departments

    summon_departments(None, case, [world.department], "需要执法")
    client.force_login(role_users[Role.DEPARTMENT_STAFF])
    page = client.get(case.get_absolute_url())
    content = page.content.decode()
    assert page.status_code == 200 and "138****8000" not in content
    assert "13800138000" not in content and "Reveal" not in content


def test_resident_reports_with_an_address_and_sees_and_rates_it(
    client, world, role_users, categories
):
    resident = role_users[Role.RESIDENT]
    client.force_login(resident)
    form = client.get(reverse("cases:report")).context["form"]
    address = form.fields["address"].queryset.first()
    assert address is not None and address.territory_code.startswith(world.community_a1.code)
    response = client.post(
        reverse("cases:report"),
        {
            "category": categories["sanitation"].pk,
            "description": "楼道灯坏了",
            "address": address.pk,
            "caller_phone": "13900139000",
            "submission": "abc",
        },
    )
    with unscoped():
        case = Case.objects.get(reporter=resident)
    assert response.status_code == 302 and case.channel == Channel.WEB
    # The same form sent twice (a double tap) makes no second case.
    client.post(
        reverse("cases:report"),
        {
            "category": categories["sanitation"].pk,
            "description": "楼道灯坏了",
            "address": address.pk,
            "submission": "abc",
        },
    )
    with unscoped():
        assert Case.objects.filter(reporter=resident).count() == 1
    assert case.pk in [c.pk for c in client.get(reverse("cases:mine")).context["page_obj"]]
    page = client.get(case.get_absolute_url())
    assert page.context["staff_view"] is False and page.context["rate_form"] is None
    for action in ["register", "dispatch", "acknowledge", "start", "finish", "verify", "close"]:
        transition(None, case, action)
    assert client.get(case.get_absolute_url()).context["rate_form"] is not None
    client.post(
        reverse("cases:act", args=[case.pk]),
        {
            "action": "callback",
            "expected_node": "closed",
            "rating": "mostly_satisfied",
            "solved": "1",
        },
    )
    rated = _stored(case)
    assert rated.rating == "mostly_satisfied" and rated.solved is True


def test_resident_cannot_take_other_steps_on_their_own_case(client, role_users, categories, world):
    resident = role_users[Role.RESIDENT]
    lng, lat = inside(world.grid_a1x)
    from jiedao.cases.services import submit_case

    case = submit_case(
        resident,
        channel="web",
        category=categories["sanitation"],
        description="x",
        lng=lng,
        lat=lat,
    ).case
    client.force_login(resident)
    client.post(
        reverse("cases:act", args=[case.pk]), {"action": "register", "expected_node": "received"}
    )
    assert _stored(case).node == Node.RECEIVED


def test_report_without_a_place_is_refused_clearly(client, role_users, categories):
    client.force_login(role_users[Role.RESIDENT])
    response = client.post(
        reverse("cases:report"), {"category": categories["sanitation"].pk, "description": "x"}
    )
    assert response.status_code == 200
    assert "Mark the place on the map" in response.content.decode()
    with unscoped():
        assert not Case.objects.exists()


def test_report_in_the_sea_is_refused(client, role_users, categories):
    client.force_login(role_users[Role.RESIDENT])
    response = client.post(
        reverse("cases:report"),
        {"category": categories["sanitation"].pk, "description": "x", "lng": 122.5, "lat": 30.0},
    )
    assert "outside the street" in response.content.decode()
    with unscoped():
        assert not Case.objects.exists()


def test_hotline_desk_records_registers_and_shows_the_callers_history(
    client, world, role_users, categories
):
    earlier = submit(world.grid_a1x, categories["sanitation"], caller_phone="13700137000")
    client.force_login(role_users[Role.STREET_STAFF])
    history = client.get(reverse("cases:caller_history"), {"caller_phone": "137 0013 7000"})
    assert list(history.context["rows"]) == [earlier]
    lng, lat = inside(world.grid_a1x)
    client.post(
        reverse("cases:hotline"),
        {
            "caller_phone": "13700137000",
            "channel": "hotline",
            "category": categories["sanitation"].pk,
            "description": "又满了",
            "lng": lng,
            "lat": lat,
            "register_now": "on",
        },
    )
    with unscoped():
        newest = Case.objects.exclude(pk=earlier.pk).get()
    assert newest.node == Node.REGISTERED and newest.caller_phone == "13700137000"


def test_hotline_history_of_another_street_stays_hidden(client, world, role_users, categories):
    submit(world.grid_b1x, categories["sanitation"], caller_phone="13700137000")
    client.force_login(role_users[Role.STREET_STAFF])
    history = client.get(reverse("cases:caller_history"), {"caller_phone": "13700137000"})
    assert list(history.context["rows"]) == []


def test_patrol_report_from_the_phone_location(client, world, role_users, categories):
    worker = role_users[Role.GRID_WORKER]
    client.force_login(worker)
    lng, lat = inside(world.grid_a1x)
    client.post(
        reverse("cases:patrol"),
        {
            "category": categories["sanitation"].pk,
            "description": "井盖缺失",
            "lng": lng,
            "lat": lat,
        },
    )
    with unscoped():
        case = Case.objects.get()
    assert case.channel == Channel.PATROL and case.reporter == worker
    assert case.grid == world.grid_a1x


def test_grid_worker_todo_lists_cases_to_verify_and_to_call_back(client, role_users, case):
    for action in ["register", "dispatch", "acknowledge", "start", "finish"]:
        transition(None, case, action)
    client.force_login(role_users[Role.GRID_WORKER])
    todo = client.get(reverse("cases:todo"))
    assert list(todo.context["verify"]) == [case]
    client.post(
        reverse("cases:act", args=[case.pk]), {"action": "verify", "expected_node": "handled"}
    )
    transition(None, _stored(case), "close")
    todo = client.get(reverse("cases:todo"))
    assert list(todo.context["verify"]) == [] and list(todo.context["callback"]) == [case]


def test_public_map_shows_no_description_and_rounds_places(client, case):
    for action in ["register", "dispatch", "acknowledge", "start", "finish", "verify", "close"]:
        transition(None, case, action)
    with unscoped():
        Case.objects.filter(pk=case.pk).update(lng=116.4012345, lat=39.9087654)
    page = client.get(reverse("cases:public_map")).content.decode()
    assert "垃圾三天没人清运" not in page and "13800138000" not in page
    assert "[116.401, 39.909]" in page and "116.4012345" not in page

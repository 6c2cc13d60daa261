"""The cases API (/api/cases): catalogue, lists and filters, intake with idempotency and every
coordinate system, details with the caller's contact only for those who may see it, the
workflow actions with their error codes, the permission matrix, and fuzzed intake bodies."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiedao.accounts.roles import Role
from jiedao.accounts.services import issue_api_token
from jiedao.cases import coords
from jiedao.cases.models import Case, CaseEvent, Category, Node, Summons
from jiedao.cases.services import transition
from jiedao.core.scopes import unscoped
from tests import factories as f
from tests.cases.conftest import inside, submit
from tests.races import RaceWorld, at_once, needs_postgresql, run

pytestmark = pytest.mark.django_db

URL = "/api/cases"


def post(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def intake_body(grid, **overrides):
    lng, lat = inside(grid)
    body = {"category": "0101", "description": "楼道灯坏了一周", "lng": lng, "lat": lat}
    body.update(overrides)
    return body


def case_count() -> int:
    with unscoped():
        return Case.objects.count()


def events_of(case) -> list[str]:
    with unscoped():
        return list(CaseEvent.objects.filter(case=case).values_list("action", flat=True))


def stored(case) -> Case:
    with unscoped():
        return Case.objects.get(pk=case.pk)


def as_user(client, user):
    client.force_login(user)
    return client


def assert_error(response, status, code=None):
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"code", "message"} and body["message"], body
    if code is not None:
        assert body["code"] == code, body


def dispatched(case, department):
    transition(None, case, "register")
    transition(None, case, "dispatch", handler_type="department", department=department)
    return case


@pytest.fixture
def far_grid(world):
    """A grid in another district: outside every territory of ``role_users`` but the admin's."""
    district = world.other_department.district
    street = f.StreetFactory(district=district, code="110228001000", name="鼓楼街道")
    community = f.CommunityFactory(street=street, code="110228001001", name="果园社区")
    return f.GridFactory(community=community, code="110228001001001", name="果园第一网格")


# --- The catalogue ----------------------------------------------------------------------------


def test_categories_are_the_active_catalogue_as_a_tree(client, world, role_users, categories):
    Category.objects.create(code="0103", name="停用小类", parent=categories["main"], active=False)
    Category.objects.create(code="02", name="停用大类", active=False)
    as_user(client, role_users[Role.RESIDENT])
    tree = client.get(f"{URL}/categories").json()
    assert [main["code"] for main in tree] == ["01"]
    assert [sub["code"] for sub in tree[0]["children"]] == ["0101", "0102"]
    drainage = tree[0]["children"][1]
    assert drainage["handler_type"] == "department" and drainage["deadline_days"] == 5


def test_every_endpoint_needs_a_session_or_a_token(client, case):
    for method, url in [
        ("get", f"{URL}/categories"),
        ("get", URL),
        ("get", f"{URL}/{case.pk}"),
        ("post", URL),
        ("post", f"{URL}/{case.pk}/actions/register"),
    ]:
        response = getattr(client, method)(url, content_type="application/json")
        assert_error(response, 401, "unauthenticated")
    assert stored(case).node == Node.RECEIVED


# --- Lists and filters ------------------------------------------------------------------------


def test_list_shows_only_the_callers_territory(client, world, role_users, categories):
    mine = submit(world.grid_a2x, categories["sanitation"])
    submit(world.grid_b1x, categories["sanitation"])  # street B
    as_user(client, role_users[Role.STREET_STAFF])
    data = client.get(URL).json()
    assert data["count"] == 1 and [row["id"] for row in data["items"]] == [mine.pk]
    row = data["items"][0]
    assert row["grid_code"] == world.grid_a2x.code and row["category_code"] == "0101"
    assert "caller_phone" not in row and "caller_name" not in row  # never in lists


@pytest.fixture
def several(world, categories):
    """Five cases in street A with known differences."""
    a = submit(world.grid_a1x, categories["sanitation"], description="垃圾桶满了")
    b = submit(world.grid_a1y, categories["drainage"], description="下水道堵塞")
    c = submit(world.grid_a2x, categories["sanitation"], description="楼道堆物")
    d = dispatched(submit(world.grid_a1x, categories["drainage"]), world.department)
    e = submit(world.grid_a2x, categories["sanitation"], description="门口有垃圾")
    transition(None, c, "register")
    transition(None, e, "reject", "重复诉求")
    past, now = timezone.now() - timedelta(days=1), timezone.now()
    with unscoped():
        Case.objects.filter(pk=c.pk).update(resolve_due=past)  # overdue
        Case.objects.filter(pk=e.pk).update(resolve_due=past)  # past due but final: not overdue
        Case.objects.filter(pk=a.pk).update(created_at=now - timedelta(days=10))
        Case.objects.filter(pk=b.pk).update(created_at=now - timedelta(days=5))
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "abcde"),
        ("node=received", "ab"),
        ("node=dispatched", "d"),
        ("category=0102", "bd"),
        ("category=01", "abcde"),
        ("territory=110119001001", "abd"),
        ("territory=110119001001002", "b"),
        ("territory=110119001002", "ce"),
        ("overdue=true", "c"),
        ("overdue=false", "abde"),
        ("q=垃圾", "ade"),  # d has the default description, 楼下垃圾三天没人清运
        ("q=%20堵塞%20", "b"),
    ],
)
def test_list_filters(client, role_users, several, query, expected):
    as_user(client, role_users[Role.STREET_STAFF])
    response = client.get(f"{URL}?{query}&page_size=500")
    assert response.status_code == 200, response.content[:300]
    ids = {row["id"] for row in response.json()["items"]}
    assert ids == {several[key].pk for key in expected}


def test_list_filters_by_department_and_dates(client, world, role_users, several):
    as_user(client, role_users[Role.STREET_STAFF])

    def ids(query: str) -> set[int]:
        return {row["id"] for row in client.get(f"{URL}?{query}").json()["items"]}

    assert ids(f"department={world.department.pk}") == {several["d"].pk}
    assert ids(f"department={world.other_department.pk}") == set()
    week_ago = (timezone.localdate() - timedelta(days=7)).isoformat()
    assert ids(f"created_before={week_ago}") == {several["a"].pk}
    assert ids(f"created_after={week_ago}") == {several[k].pk for k in "bcde"}
    moment = (timezone.now() - timedelta(days=5, hours=1)).isoformat()
    assert ids(f"created_after={moment.replace('+', '%2B')}") == {several[k].pk for k in "bcde"}


def test_list_ordering_and_pagination(client, role_users, several):
    as_user(client, role_users[Role.STREET_STAFF])
    newest = client.get(URL).json()["items"]
    assert [row["id"] for row in newest][-2:] == [several["b"].pk, several["a"].pk]
    oldest = client.get(f"{URL}?ordering=created_at").json()["items"]
    assert [row["id"] for row in oldest] == [row["id"] for row in reversed(newest)]
    by_id = [row["id"] for row in client.get(f"{URL}?ordering=-id").json()["items"]]
    assert by_id == sorted(by_id, reverse=True)
    first = client.get(f"{URL}?ordering=id&page_size=2").json()
    third = client.get(f"{URL}?ordering=id&page_size=2&page=3").json()
    assert first["count"] == 5 and len(first["items"]) == 2 and len(third["items"]) == 1


@pytest.mark.parametrize(
    "query",
    [
        "ordering=description",
        "ordering=--id",
        "node=nowhere",
        "overdue=maybe",
        "department=abc",
        "created_after=yesterday",
        "page=0",
    ],
)
def test_bad_list_parameters_are_clear_errors(client, role_users, several, query):
    as_user(client, role_users[Role.STREET_STAFF])
    assert_error(client.get(f"{URL}?{query}"), 422)


def test_default_page_is_fifty(client, world, role_users, categories):
    lng, lat = inside(world.grid_a1x)
    grid = world.grid_a1x
    with unscoped():
        Case.objects.bulk_create(
            Case(
                channel="hotline",
                category=categories["sanitation"],
                description=f"{n}",
                grid=grid,
                territory_code=grid.code,
                community_code=grid.code[:12],
                street_code=grid.code[:9] + "000",
                lng=lng,
                lat=lat,
            )
            for n in range(55)
        )
    as_user(client, role_users[Role.STREET_STAFF])
    data = client.get(URL).json()
    assert data["count"] == 55 and len(data["items"]) == 50


# --- Intake -----------------------------------------------------------------------------------


def test_intake_creates_a_case_with_its_event(client, world, role_users, categories):
    user = role_users[Role.STREET_STAFF]
    as_user(client, user)
    body = intake_body(
        world.grid_a1y, caller_name="张三", caller_phone="13800138000", external_id="HL-1"
    )
    response = post(client, URL, body)
    assert response.status_code == 201, response.content[:300]
    data = response.json()
    assert data["grid_code"] == world.grid_a1y.code and data["node"] == Node.RECEIVED
    assert data["channel"] == "api" and data["external_id"] == "HL-1"
    assert data["contact_visible"] is True
    assert (data["caller_name"], data["caller_phone"]) == ("张*", "138****8000")  # masked
    assert [e["action"] for e in data["events"]] == ["submit"]
    case = stored(Case(pk=data["id"]))
    assert case.source_system == "api:street" and case.reporter_id == user.pk
    assert case.idempotency_key == "" and case.delivery_state == "pending"


def test_a_retry_with_the_same_key_returns_the_first_case(client, world, role_users, categories):
    as_user(client, role_users[Role.STREET_STAFF])
    body = intake_body(world.grid_a1x)
    first = post(client, URL, body, HTTP_IDEMPOTENCY_KEY="hl-2025-0001")
    again = post(client, URL, body, HTTP_IDEMPOTENCY_KEY="hl-2025-0001")
    changed = post(
        client, URL, {**body, "description": "别的"}, HTTP_IDEMPOTENCY_KEY="hl-2025-0001"
    )
    assert (first.status_code, again.status_code, changed.status_code) == (201, 200, 200)
    assert first.json()["id"] == again.json()["id"] == changed.json()["id"]
    assert case_count() == 1 and events_of(Case(pk=first.json()["id"])) == ["submit"]
    other = post(client, URL, body, HTTP_IDEMPOTENCY_KEY="hl-2025-0002")
    assert other.status_code == 201 and case_count() == 2


def test_a_retry_still_finds_its_case_after_the_category_was_retired(
    client, world, role_users, categories
):
    as_user(client, role_users[Role.STREET_STAFF])
    body = intake_body(world.grid_a1x)
    first = post(client, URL, body, HTTP_IDEMPOTENCY_KEY="hl-9")
    Category.objects.filter(code="0101").update(active=False)
    again = post(client, URL, body, HTTP_IDEMPOTENCY_KEY="hl-9")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and case_count() == 1
    assert_error(post(client, URL, body, HTTP_IDEMPOTENCY_KEY="hl-10"), 422, "category")


def test_idempotency_keys_belong_to_one_account(client, world, role_users, categories):
    body = intake_body(world.grid_a1x)
    as_user(client, role_users[Role.STREET_STAFF])
    mine = post(client, URL, body, HTTP_IDEMPOTENCY_KEY="k-1")
    as_user(client, role_users[Role.STREET_LEADER])
    theirs = post(client, URL, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_token_authenticates_other_systems(client, world, role_users, categories):
    _, key = issue_api_token(None, role_users[Role.STREET_STAFF], "12345 gateway")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    response = post(client, URL, intake_body(world.grid_a2x), HTTP_IDEMPOTENCY_KEY="t-1", **auth)
    assert response.status_code == 201
    assert client.get(f"{URL}/{response.json()['id']}", **auth).status_code == 200
    bad = post(client, URL, intake_body(world.grid_a2x), HTTP_AUTHORIZATION="Bearer jd_wrong")
    assert_error(bad, 401, "unauthenticated")
    assert case_count() == 1


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_coordinates_in_each_system_land_in_the_right_grid(
    client, world, role_users, categories, crs
):
    lng, lat = inside(world.grid_a1y)
    gcj = coords.wgs84_to_gcj02(lng, lat)
    given = {"wgs84": (lng, lat), "gcj02": gcj, "bd09": coords.gcj02_to_bd09(*gcj)}[crs]
    as_user(client, role_users[Role.STREET_STAFF])
    body = intake_body(world.grid_a1y, lng=given[0], lat=given[1], crs=crs)
    data = post(client, URL, body).json()
    assert data["grid_code"] == world.grid_a1y.code
    assert data["lng"] == pytest.approx(lng, abs=1e-7) and data["lat"] == pytest.approx(
        lat, abs=1e-7
    )


def test_web_map_coordinates_taken_as_wgs84_miss_the_grid(client, world, role_users, categories):
    """Baidu coordinates read as WGS-84 are about a kilometre off: outside the test grids."""
    lng, lat = inside(world.grid_a1y)
    bd = coords.gcj02_to_bd09(*coords.wgs84_to_gcj02(lng, lat))
    as_user(client, role_users[Role.STREET_STAFF])
    response = post(client, URL, intake_body(world.grid_a1y, lng=bd[0], lat=bd[1]))
    assert_error(response, 422, "outside_street")
    assert case_count() == 0


def test_a_standard_address_places_the_case(client, world, role_users, categories):
    address = world.buildings["a2x"].address
    as_user(client, role_users[Role.STREET_STAFF])
    body = {"category": "0101", "description": "漏水", "address": address.pk}
    data = post(client, URL, body).json()
    assert data["grid_code"] == world.grid_a2x.code and data["address_id"] == address.pk
    assert data["address"] == address.full_text


def test_anonymous_callers_leave_no_name(client, world, role_users, categories):
    as_user(client, role_users[Role.STREET_STAFF])
    body = intake_body(world.grid_a1x, caller_name="李四", anonymous=True)
    data = post(client, URL, body).json()
    assert data["anonymous"] is True and data["caller_name"] == ""


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"category": "9999"}, "category"),
        ({"category": "01"}, "category"),  # a main category
        ({"description": "   "}, "description"),
        ({"lng": 116.404, "lat": 39.915}, "outside_street"),  # Tiananmen, not in the street
        ({"lng": None, "lat": None}, "location"),
        ({"lat": None}, "coordinates"),
        ({"lng": 200.0}, "coordinates"),
        ({"crs": "epsg3857"}, "invalid"),
        ({"address": 999999}, "address"),
        ({"urgnet": True}, "invalid"),  # a misspelt field is refused, not ignored
        ({"caller_phone": "1" * 33}, "invalid"),
        ({"description": "长" * 4001}, "invalid"),
    ],
)
def test_bad_intake_is_refused_and_creates_nothing(
    client, world, role_users, categories, change, code
):
    as_user(client, role_users[Role.STREET_STAFF])
    response = post(client, URL, intake_body(world.grid_a1x, **change))
    assert_error(response, 422, code)
    assert case_count() == 0


def test_inactive_subcategory_is_refused(client, world, role_users, categories):
    Category.objects.filter(code="0101").update(active=False)
    as_user(client, role_users[Role.STREET_STAFF])
    assert_error(post(client, URL, intake_body(world.grid_a1x)), 422, "category")
    assert case_count() == 0


def test_an_overlong_idempotency_key_is_refused(client, world, role_users, categories):
    as_user(client, role_users[Role.STREET_STAFF])
    response = post(client, URL, intake_body(world.grid_a1x), HTTP_IDEMPOTENCY_KEY="k" * 121)
    assert_error(response, 422, "invalid")
    assert case_count() == 0


@pytest.mark.parametrize("raw", ["", "{", "[]", "null", '"text"', "42", "{'a': 1}"])
def test_a_body_that_is_not_an_object_is_refused(client, world, role_users, categories, raw):
    as_user(client, role_users[Role.STREET_STAFF])
    response = client.post(URL, raw, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert {"code", "message"} <= set(response.json())
    assert case_count() == 0


# --- Details ----------------------------------------------------------------------------------


def test_detail_has_the_timeline_and_summonses(client, world, role_users, categories):
    case = dispatched(submit(world.grid_a1x, categories["drainage"]), world.department)
    with unscoped():
        Summons(
            case=case,
            department=world.other_department,
            reason="需要执法",
            report_due=timezone.now() + timedelta(hours=2),
            part_due=timezone.now() + timedelta(days=3),
        ).save()
    as_user(client, role_users[Role.STREET_STAFF])
    data = client.get(f"{URL}/{case.pk}").json()
    assert [e["action"] for e in data["events"]] == ["submit", "register", "dispatch"]
    assert [e["to_node"] for e in data["events"]] == ["received", "registered", "dispatched"]
    assert data["events"][1]["actor"] == "system"
    (summons,) = data["summonses"]
    assert summons["department"] == "密云区水务局" and summons["reported_late"] is False
    assert data["handler_type"] == "department" and data["handler"] == "区城市管理委员会"
    assert data["handler_department_id"] == world.department.pk
    assert "approve_extension" not in data["actions"] and data["resolve_due"]


def test_detail_outside_scope_is_not_found(client, world, role_users, categories):
    other = submit(world.grid_b1x, categories["sanitation"])
    as_user(client, role_users[Role.STREET_STAFF])
    assert_error(client.get(f"{URL}/{other.pk}"), 404, "not_found")
    assert_error(client.get(f"{URL}/999999"), 404, "not_found")


def test_a_resident_sees_their_own_case_but_not_a_neighbours(client, world, role_users, categories):
    resident = role_users[Role.RESIDENT]
    neighbour = f.user_with_role(Role.RESIDENT, world.community_a1, username="neighbour")
    as_user(client, resident)
    created = post(client, URL, intake_body(world.grid_a1x, caller_phone="13900000000")).json()
    own = client.get(f"{URL}/{created['id']}").json()
    assert own["caller_phone"] == "139****0000" and own["actions"] == []
    transition(None, Case(pk=created["id"], node=Node.RECEIVED), "register")
    own = client.get(f"{URL}/{created['id']}").json()
    assert [e["actor"] for e in own["events"]] == ["", ""]  # what happened, not who did it
    as_user(client, neighbour)
    assert_error(client.get(f"{URL}/{created['id']}"), 404)
    assert client.get(URL).json()["count"] == 0


# --- The permission matrix --------------------------------------------------------------------

# role → (sees the case, sees the caller's contact, may register it), for a case in grid A1x
# (inside every role's territory) that is not yet dispatched. Department staff see cases sent
# or summoned to their department only; committee members see cases without the contact.
INSIDE = {
    Role.RESIDENT: (False, False, False),
    Role.GRID_WORKER: (True, True, False),
    Role.WORKSTATION_STAFF: (True, True, False),
    Role.COMMITTEE_MEMBER: (True, False, False),
    Role.STREET_STAFF: (True, True, True),
    Role.STREET_LEADER: (True, True, True),
    Role.DEPARTMENT_STAFF: (False, False, False),
    Role.DISTRICT_ADMIN: (True, True, True),
    Role.SYSTEM_ADMIN: (True, True, True),
}


@pytest.mark.parametrize("role", list(INSIDE))
def test_permission_matrix_inside_the_territory(client, world, role_users, categories, role):
    case = submit(world.grid_a1x, categories["sanitation"], caller_phone="13800138000")
    sees, contact, registers = INSIDE[role]
    as_user(client, role_users[role])
    listed = {row["id"] for row in client.get(URL).json()["items"]}
    assert (case.pk in listed) is sees
    detail = client.get(f"{URL}/{case.pk}")
    assert detail.status_code == (200 if sees else 404)
    if sees:
        assert detail.json()["contact_visible"] is contact
        assert detail.json()["caller_phone"] == ("138****8000" if contact else None)
        assert ("register" in detail.json()["actions"]) is registers
    response = post(client, f"{URL}/{case.pk}/actions/register", {"expected_node": "received"})
    if registers:
        assert response.status_code == 200 and response.json()["node"] == Node.REGISTERED
        assert stored(case).node == Node.REGISTERED
    else:
        assert_error(response, 403 if sees else 404)
        assert stored(case).node == Node.RECEIVED and events_of(case) == ["submit"]


@pytest.mark.parametrize("role", list(INSIDE))
def test_permission_matrix_outside_the_territory(
    client, world, role_users, categories, far_grid, role
):
    """A case in another district: only the system administrator sees it."""
    case = submit(far_grid, categories["sanitation"], caller_phone="13800138000")
    as_user(client, role_users[role])
    admin = role == Role.SYSTEM_ADMIN
    assert (case.pk in {row["id"] for row in client.get(URL).json()["items"]}) is admin
    assert client.get(f"{URL}/{case.pk}").status_code == (200 if admin else 404)
    response = post(client, f"{URL}/{case.pk}/actions/register", {})
    assert response.status_code == (200 if admin else 404)
    assert stored(case).node == (Node.REGISTERED if admin else Node.RECEIVED)


def test_street_b_is_outside_street_a_staff_but_inside_the_district(
    client, world, role_users, categories
):
    case = submit(world.grid_b1x, categories["sanitation"])
    for role, status in [
        (Role.GRID_WORKER, 404),
        (Role.WORKSTATION_STAFF, 404),
        (Role.STREET_STAFF, 404),
        (Role.STREET_LEADER, 404),
        (Role.DISTRICT_ADMIN, 200),
    ]:
        as_user(client, role_users[role])
        assert client.get(f"{URL}/{case.pk}").status_code == status, role


def test_department_staff_see_and_act_on_their_departments_cases(
    client, world, role_users, categories
):
    ours = dispatched(
        submit(world.grid_a1x, categories["drainage"], caller_phone="1"), world.department
    )
    third = f.DepartmentFactory(district=world.district, code="SJ", name="区市场监管局")
    theirs = dispatched(submit(world.grid_a1x, categories["drainage"]), third)
    summoned = dispatched(submit(world.grid_a1y, categories["drainage"], caller_phone="2"), third)
    with unscoped():
        Summons(
            case=summoned,
            department=world.department,
            reason="协同",
            report_due=timezone.now() + timedelta(hours=2),
            part_due=timezone.now() + timedelta(days=3),
        ).save()
    as_user(client, role_users[Role.DEPARTMENT_STAFF])
    assert {row["id"] for row in client.get(URL).json()["items"]} == {ours.pk, summoned.pk}
    own = client.get(f"{URL}/{ours.pk}").json()
    assert own["caller_phone"] == "*"  # masked, even a one-digit test number
    assert {"return", "acknowledge", "contact"} <= set(own["actions"])
    joined = client.get(f"{URL}/{summoned.pk}").json()
    assert joined["caller_phone"] is None and joined["actions"] == []  # summoned, not handling
    assert_error(client.get(f"{URL}/{theirs.pk}"), 404)
    assert_error(post(client, f"{URL}/{theirs.pk}/actions/acknowledge", {}), 404)
    assert_error(post(client, f"{URL}/{summoned.pk}/actions/acknowledge", {}), 403, "forbidden")
    done = post(client, f"{URL}/{ours.pk}/actions/acknowledge", {"expected_node": "dispatched"})
    assert done.status_code == 200 and done.json()["node"] == Node.ACKNOWLEDGED
    assert stored(summoned).node == Node.DISPATCHED


# --- Actions ----------------------------------------------------------------------------------


def test_the_whole_loop_over_the_api(client, world, role_users, categories, case):
    street, worker = role_users[Role.STREET_STAFF], role_users[Role.WORKSTATION_STAFF]
    steps = [
        (street, "register", {}),
        (street, "dispatch", {}),  # sanitation routes to the community workstation
        (worker, "acknowledge", {}),
        (worker, "start", {}),
        (worker, "finish", {"note": "已清运"}),
        (role_users[Role.GRID_WORKER], "verify", {}),
        (street, "close", {}),
        (worker, "callback", {"rating": "mostly_satisfied", "solved": True}),
    ]
    for user, action, body in steps:
        as_user(client, user)
        response = post(client, f"{URL}/{case.pk}/actions/{action}", body)
        assert response.status_code == 200, (action, response.content[:300])
    data = response.json()
    assert data["node"] == Node.CLOSED and data["public_status"] == "closed"
    assert data["rating"] == "mostly_satisfied" and data["solved"] is True
    assert data["handler_type"] == ""
    assert [e["action"] for e in data["events"]] == ["submit"] + [s[1] for s in steps]


def test_dispatch_to_a_chosen_department(client, world, role_users, categories, case):
    transition(None, case, "register")
    as_user(client, role_users[Role.STREET_STAFF])
    body = {"handler_type": "department", "department_id": world.department.pk}
    data = post(client, f"{URL}/{case.pk}/actions/dispatch", body).json()
    assert data["handler_department_id"] == world.department.pk and data["node"] == "dispatched"
    assert data["acknowledge_due"]


def test_a_stale_expected_node_is_a_conflict_and_changes_nothing(
    client, world, role_users, categories, case
):
    transition(None, case, "register")
    as_user(client, role_users[Role.STREET_STAFF])
    response = post(
        client, f"{URL}/{case.pk}/actions/reject", {"note": "重复", "expected_node": "received"}
    )
    assert_error(response, 409, "conflict")
    assert stored(case).node == Node.REGISTERED and events_of(case) == ["submit", "register"]


@pytest.mark.parametrize(
    ("action", "body", "status", "code"),
    [
        ("acknowledge", {}, 422, "not_allowed"),  # the case is only received
        ("reject", {}, 422, "note_required"),
        ("reject", {"note": "   "}, 422, "note_required"),
        ("register", {"rating": "satisfied"}, 422, "invalid"),  # not a field of register
        ("register", {"expected_node": "somewhere"}, 422, "invalid"),
        ("register", {"note": "x" * 2001}, 422, "invalid"),
        ("register", {"nonsense": 1}, 422, "invalid"),
        ("fly", {}, 404, "unknown_action"),
        ("REGISTER", {}, 404, "unknown_action"),
        ("merge", {"into": 999999}, 422, "merge_target"),
    ],
)
def test_refused_actions_change_nothing(
    client, world, role_users, categories, case, action, body, status, code
):
    as_user(client, role_users[Role.STREET_STAFF])
    response = post(client, f"{URL}/{case.pk}/actions/{action}", body)
    assert_error(response, status, code)
    assert stored(case).node == Node.RECEIVED and events_of(case) == ["submit"]


def test_dispatch_refuses_bad_handlers(client, world, role_users, categories, case):
    transition(None, case, "register")
    as_user(client, role_users[Role.STREET_STAFF])
    url = f"{URL}/{case.pk}/actions/dispatch"
    for body, code in [
        ({"handler_type": "police"}, "invalid"),
        ({"handler_type": "department", "department_id": 999999}, "department"),
        (
            {"handler_type": "department", "department_id": world.other_department.pk},
            "department_district",
        ),
        ({"rating": "satisfied"}, "invalid"),
    ]:
        assert_error(post(client, url, body), 422, code)
    assert stored(case).node == Node.REGISTERED and events_of(case) == ["submit", "register"]


def test_merge_only_into_a_case_the_caller_sees(client, world, role_users, categories, case):
    elsewhere = submit(world.grid_b1x, categories["sanitation"])
    target = submit(world.grid_a1y, categories["sanitation"])
    as_user(client, role_users[Role.STREET_STAFF])
    url = f"{URL}/{case.pk}/actions/merge"
    assert_error(post(client, url, {"into": elsewhere.pk}), 422, "merge_target")
    assert stored(case).node == Node.RECEIVED
    data = post(client, url, {"into": target.pk, "note": "同一处"}).json()
    assert data["node"] == Node.MERGED and data["merged_into_id"] == target.pk


def test_callback_needs_a_rating(client, world, role_users, categories, case):
    for action in ("register", "dispatch", "acknowledge", "start", "finish", "verify", "close"):
        transition(None, case, action)
    as_user(client, role_users[Role.STREET_STAFF])
    url = f"{URL}/{case.pk}/actions/callback"
    assert_error(post(client, url, {}), 422, "rating")
    assert_error(post(client, url, {"rating": "great"}), 422, "invalid")
    assert stored(case).rating == ""
    assert post(client, url, {"rating": "dissatisfied"}).json()["solved"] is False


def test_a_handler_who_returns_a_case_is_told_the_outcome(client, world, role_users, categories):
    case = dispatched(submit(world.grid_a1x, categories["drainage"]), world.department)
    as_user(client, role_users[Role.DEPARTMENT_STAFF])
    response = post(client, f"{URL}/{case.pk}/actions/return", {"note": "不属于本部门"})
    assert response.status_code == 200 and response.json()["node"] == Node.REGISTERED
    assert response.json()["caller_phone"] is None and response.json()["actions"] == []
    assert_error(client.get(f"{URL}/{case.pk}"), 404)  # no longer theirs


def test_the_openapi_schema_lists_the_case_endpoints(client, db):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {
        "/api/cases/categories",
        "/api/cases",
        "/api/cases/{case_id}",
        "/api/cases/{case_id}/actions/{action}",
    } <= set(paths)


# --- Fuzzed intake bodies ---------------------------------------------------------------------

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
not_a_number = st.one_of(
    st.text(max_size=10).filter(lambda s: not _numeric(s)),
    st.lists(json_leaf, max_size=2),
    st.dictionaries(st.text(max_size=5), json_leaf, max_size=2),
)
not_a_bool = st.one_of(
    st.integers().filter(lambda n: n not in (0, 1)),
    st.lists(json_leaf, max_size=2),
    st.sampled_from(["maybe", "是", "2", "", "null"]),
)
not_a_text = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(json_leaf, max_size=2)
)
# For each field, values that can never make a valid case (with the other fields valid).
BAD_FIELDS = {
    "category": st.one_of(
        not_a_text,
        st.none(),
        st.text(max_size=20).filter(lambda s: s not in ("0101", "0102")),
    ),
    "description": st.one_of(
        not_a_text, st.none(), st.text(alphabet=" \t\n\u3000", max_size=5), st.just("x" * 4001)
    ),
    "lng": st.one_of(
        not_a_number,
        st.floats(min_value=-180, max_value=115.0),
        st.floats(min_value=117.0, max_value=180),
        st.floats().filter(lambda x: not -180 <= x <= 180),
    ),
    "lat": st.one_of(
        not_a_number,
        st.floats(min_value=-90, max_value=40.0),
        st.floats(min_value=41.0, max_value=90),
        st.floats().filter(lambda x: not -90 <= x <= 90),
    ),
    "crs": st.one_of(
        not_a_text, st.text(max_size=10).filter(lambda s: s not in ("wgs84", "gcj02", "bd09"))
    ),
    "address": st.one_of(st.integers(min_value=10**6), st.integers(max_value=0), not_a_number),
    "urgent": not_a_bool,
    "anonymous": not_a_bool,
    "caller_name": st.one_of(not_a_text, st.text(min_size=61, max_size=80)),
    "caller_phone": st.one_of(not_a_text, st.text(min_size=33, max_size=40)),
    "external_id": st.one_of(not_a_text, st.text(min_size=121, max_size=130)),
}


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@st.composite
def bad_bodies(draw, base: dict) -> object:
    kind = draw(st.sampled_from(["field", "fields", "random", "extra"]))
    if kind == "random":  # anything at all but a valid intake
        return draw(json_value)
    body = dict(base)
    if kind == "extra":
        name = draw(st.text(min_size=1, max_size=10).filter(lambda s: s not in BAD_FIELDS))
        body[name] = draw(json_value)
        return body
    names = draw(
        st.lists(
            st.sampled_from(sorted(BAD_FIELDS)),
            min_size=1,
            max_size=1 if kind == "field" else 4,
            unique=True,
        )
    )
    for name in names:
        body[name] = draw(BAD_FIELDS[name])
    return body


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_bad_intake_body_is_a_json_error_and_creates_nothing(
    client, world, role_users, categories, data
):
    as_user(client, role_users[Role.STREET_STAFF])
    base = intake_body(world.grid_a1x)
    base.pop("lng") if data.draw(st.booleans()) else None  # half lack a coordinate too
    body = data.draw(bad_bodies(base))
    before = case_count()
    response = client.post(URL, json.dumps(body), content_type="application/json")
    assert 400 <= response.status_code < 500, (body, response.status_code, response.content[:300])
    error = response.json()
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), error
    assert case_count() == before


# --- Concurrent retries (PostgreSQL) ----------------------------------------------------------


def _race_set_up() -> dict:
    world = RaceWorld("650103000000", "幂等", "IDEM").build()
    user = world.user(Role.STREET_STAFF, "idem-gateway")
    _, key = issue_api_token(None, user, "race")
    return {"world": world, "key": key, "point": inside(world.grid)}


def test_concurrent_retries_create_one_case():
    needs_postgresql("SQLite has no concurrent writers to race")
    state = run(_race_set_up)
    lng, lat = state["point"]
    body = json.dumps({"category": "IDEM", "description": "并发重试", "lng": lng, "lat": lat})
    threads_count = 4
    barrier = threading.Barrier(threads_count)
    answers: list[tuple[int, dict]] = []

    def retry() -> None:
        client = Client()
        barrier.wait()
        response = client.post(
            URL,
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {state['key']}",
            HTTP_IDEMPOTENCY_KEY="same-request",
        )
        answers.append((response.status_code, response.json()))

    try:
        at_once(retry, [()] * threads_count)
        statuses = sorted(status for status, _ in answers)
        assert statuses == [200] * (threads_count - 1) + [201], answers
        assert len({answer["id"] for _, answer in answers}) == 1

        def stored_cases():
            with unscoped():
                rows = Case.objects.filter(territory_code=state["world"].grid.code)
                return rows.count(), CaseEvent.objects.filter(case__in=rows).count()

        assert run(stored_cases) == (1, 1)
    finally:
        run(state["world"].remove)

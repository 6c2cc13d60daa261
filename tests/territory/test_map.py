"""The grid map and the grid profile (issue 5): indicator values against hand-counted fixtures,
query counts that do not grow with the number of grids, the permission matrix of the three
endpoints, bad parameters, the GeoJSON payload and its simplification, the XLSX export."""

from __future__ import annotations

import math
from datetime import date, timedelta
from io import BytesIO

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from shapely.geometry import shape

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.cases.models import Case, Category, HandlerType, Node
from jiedao.core.scopes import unscoped
from jiedao.core.selectors import visible_under
from jiedao.registry.models import CareGroup, CareTag, Person
from jiedao.territory import indicators
from jiedao.territory.models import Grid
from tests import factories as f

pytestmark = pytest.mark.django_db

MAP = "/territory/map/"
DATA = "/territory/map/data.json"
STREET_A, STREET_B = "110119001000", "110119002000"
DISTRICT, OTHER_DISTRICT = "110119000000", "110228000000"
COMMUNITY_A1, COMMUNITY_A2 = "110119001001", "110119001002"
A1X, A1Y, A2X, B1X = "110119001001001", "110119001001002", "110119001002001", "110119002001001"
PAST, FUTURE = timedelta(days=-2), timedelta(days=3)


@pytest.fixture(autouse=True)
def english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def category(db):
    main = Category.objects.create(code="01", name="市容环境", handler_type=HandlerType.STREET)
    return Category.objects.create(
        code="0101", name="垃圾清运", parent=main, handler_type=HandlerType.COMMUNITY
    )


def make_case(grid, category, node=Node.REGISTERED, due=FUTURE, **fields) -> Case:
    """A case row as the workflow would leave it (no services, no events)."""
    now = timezone.now()
    fields.setdefault("registered_at", now - timedelta(days=1))
    if node in (Node.VERIFIED, Node.IN_PROGRESS, Node.DISPATCHED):
        fields.setdefault("handler_type", HandlerType.COMMUNITY)
        fields.setdefault("handler_unit_code", grid.code[:12])
    with unscoped():
        case = Case(
            channel="hotline",
            category=category,
            description="楼道灯坏了",
            grid=grid,
            node=node,
            resolve_due=now + due if due is not None else None,
            **fields,
        )
        case.save()
    return case


def people_in(building, n: int, **kwargs) -> list[Person]:
    return [
        f.PersonFactory(household__dwelling__entrance__building=building, **kwargs)
        for _ in range(n)
    ]


def tag(person, *groups) -> None:
    for group in groups:
        CareTag.all_objects.create(person=person, group=group)


@pytest.fixture
def counted(world, category, role_users):
    """Hand-counted figures on top of ``world`` (one person and household per grid):

    * A1x: 4 persons / 4 households; care tags: p0 elderly+disabled, p1 disabled → care 2;
      cases: registered (due), registered (overdue), verified (overdue, but only waits for
      closing: open, not overdue), closed, rejected → open 3, overdue 1.
    * A1y: 1 person; p subsistence → care 1; no case.
    * A2x: 1 person; a received case past its deadline → open 1, overdue 1.
    * B1x (street B): a case reported by the street-A user themself → open 1 (not theirs to
      count on the map: strict territory).
    """
    a1x_people = [world.persons["a1x"], *people_in(world.buildings["a1x"], 3)]
    tag(a1x_people[0], CareGroup.ELDERLY_ALONE, CareGroup.DISABLED)
    tag(a1x_people[1], CareGroup.DISABLED)
    tag(world.persons["a1y"], CareGroup.SUBSISTENCE)
    make_case(world.grid_a1x, category)
    make_case(world.grid_a1x, category, due=PAST)
    make_case(world.grid_a1x, category, Node.VERIFIED, due=PAST, verified_at=timezone.now())
    make_case(
        world.grid_a1x,
        category,
        Node.CLOSED,
        due=PAST,
        verified_at=timezone.now(),
        closed_at=timezone.now(),
    )
    make_case(world.grid_a1x, category, Node.REJECTED, due=PAST)
    make_case(world.grid_a2x, category, Node.RECEIVED, due=PAST)
    make_case(world.grid_b1x, category, reporter=role_users[Role.STREET_STAFF])
    return world


EXPECTED = {
    A1X: {
        "population": 4,
        "households": 4,
        "open_cases": 3,
        "overdue_cases": 1,
        "care": 2,
        "care_elderly_alone": 1,
        "care_disabled": 2,
        "care_subsistence": 0,
    },
    A1Y: {
        "population": 1,
        "households": 1,
        "open_cases": 0,
        "overdue_cases": 0,
        "care": 1,
        "care_elderly_alone": 0,
        "care_disabled": 0,
        "care_subsistence": 1,
    },
    A2X: {
        "population": 1,
        "households": 1,
        "open_cases": 1,
        "overdue_cases": 1,
        "care": 0,
        "care_elderly_alone": 0,
        "care_disabled": 0,
        "care_subsistence": 0,
    },
    B1X: {
        "population": 1,
        "households": 1,
        "open_cases": 1,
        "overdue_cases": 0,
        "care": 0,
        "care_elderly_alone": 0,
        "care_disabled": 0,
        "care_subsistence": 0,
    },
}


def picked(rows):
    return {row["code"]: {key: row[key] for key in EXPECTED[A1X]} for row in rows}


# --- Indicator values -----------------------------------------------------------------------


def test_street_indicators_are_the_hand_counts(counted, role_users):
    rows = indicators.grid_indicators(role_users[Role.STREET_STAFF], STREET_A)
    assert [row["code"] for row in rows] == [A1X, A1Y, A2X]
    assert picked(rows) == {code: EXPECTED[code] for code in (A1X, A1Y, A2X)}
    assert rows[0]["name"] == "香水园第一网格" and rows[0]["community"] == "香水园社区"
    assert rows[0]["url"] == reverse("territory:grid_profile", args=[A1X])
    assert set(indicators.INDICATOR_KEYS) <= set(rows[0])


def test_district_admin_sees_every_grid_of_the_district(counted, role_users):
    rows = indicators.grid_indicators(role_users[Role.DISTRICT_ADMIN], DISTRICT)
    assert picked(rows) == EXPECTED
    totals = indicators.totals(rows)
    assert totals["population"] == 7 and totals["open_cases"] == 5 and totals["care"] == 3


def test_strict_territory_a_wider_area_shows_only_the_users_grids(counted, role_users):
    """The street's staff asking for their district get their own street's grids; the case
    they reported themselves in street B is not counted anywhere."""
    rows = indicators.grid_indicators(role_users[Role.STREET_STAFF], DISTRICT)
    assert [row["code"] for row in rows] == [A1X, A1Y, A2X]
    assert sum(row["open_cases"] for row in rows) == 4
    worker = indicators.grid_indicators(role_users[Role.GRID_WORKER], STREET_A)
    assert picked(worker) == {A1X: EXPECTED[A1X]}


def test_department_structure_adds_no_grid_to_a_mixed_users_map(client, counted, role_users):
    """Department staff who are also a grid worker see the district's structure, but the map
    shows the grids of their record grant only."""
    from jiedao.accounts.models import RoleGrant

    user = role_users[Role.DEPARTMENT_STAFF]
    RoleGrant.objects.create(user=user, role=Role.GRID_WORKER, grid=counted.grid_a1x)
    user.clear_grant_cache()
    rows = indicators.grid_indicators(user, DISTRICT)
    assert picked(rows) == {A1X: EXPECTED[A1X]}
    client.force_login(user)
    body = client.get(DATA, {"area": DISTRICT}).json()
    assert [feature["id"] for feature in body["features"]] == [A1X]
    assert client.get(DATA, {"area": STREET_B}).status_code == 404  # structure, no records
    assert client.get(f"/territory/grids/{B1X}/profile/").status_code == 404


def test_a_retired_grid_is_left_out(counted, role_users):
    Grid.all_objects.filter(code=A1Y).update(retired_at=date(2025, 1, 1))
    rows = indicators.grid_indicators(role_users[Role.STREET_STAFF], STREET_A)
    assert [row["code"] for row in rows] == [A1X, A2X]


def _add_grids(world, n: int) -> None:
    for number in range(10, 10 + n):
        grid = f.GridFactory(community=world.community_a2, code=f"{COMMUNITY_A2}{number:03d}")
        building = f.BuildingFactory(grid=grid)
        person = people_in(building, 1)[0]
        tag(person, CareGroup.VETERAN)


def test_query_count_does_not_grow_with_the_grids(counted, role_users, category):
    user = role_users[Role.STREET_STAFF]
    indicators.grid_indicators(user, STREET_A)  # the user's grants load once, on first use
    with CaptureQueriesContext(connection) as few:
        small = indicators.grid_indicators(user, STREET_A)
    _add_grids(counted, 20)
    make_case(Grid.all_objects.get(code=f"{COMMUNITY_A2}015"), category)
    with CaptureQueriesContext(connection) as many:
        large = indicators.grid_indicators(user, STREET_A)
    assert len(large) == len(small) + 20
    assert len(many) == len(few) <= 5
    by_code = {row["code"]: row for row in large}
    assert by_code[f"{COMMUNITY_A2}015"]["open_cases"] == 1
    assert by_code[f"{COMMUNITY_A2}012"]["care_veteran"] == 1


def test_map_data_query_count_is_flat(client, counted, role_users, django_assert_max_num_queries):
    client.force_login(role_users[Role.STREET_STAFF])
    with CaptureQueriesContext(connection) as few:
        assert client.get(DATA, {"area": STREET_A}).status_code == 200
    _add_grids(counted, 15)
    cache.clear()
    with CaptureQueriesContext(connection) as many:
        response = client.get(DATA, {"area": STREET_A})
    assert len(response.json()["features"]) == 18
    assert len(many) == len(few)


def test_map_data_is_kept_a_minute_for_users_of_the_same_scope(
    client, counted, role_users, django_assert_max_num_queries
):
    street = role_users[Role.STREET_STAFF]
    client.force_login(street)
    first = client.get(DATA, {"area": STREET_A}).json()
    client.force_login(role_users[Role.STREET_LEADER])  # the same street: the same counts
    with django_assert_max_num_queries(8) as seen:  # session, user, grants, area: no counting
        again = client.get(DATA, {"area": STREET_A}).json()
    assert again == first
    assert not any("registry_person" in query["sql"] for query in seen.captured_queries)
    # Another scope never gets these counts: the community's staff see their grids only.
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    own = client.get(DATA, {"area": STREET_A}).json()
    assert [feature["id"] for feature in own["features"]] == [A1X, A1Y]
    # Nor another language: the indicator names are in it.
    client.force_login(street)
    chinese = client.get(DATA, {"area": STREET_A}, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert chinese["indicators"][0]["label"] == "人口" != first["indicators"][0]["label"]


# --- The grid profile's figures -------------------------------------------------------------


def test_years_before_handles_29_february():
    assert indicators.years_before(date(2024, 2, 29), 1) == date(2023, 2, 28)
    assert indicators.years_before(date(2026, 3, 1), 7) == date(2019, 3, 1)


def test_age_bands_count_birthdays_exactly(world, role_users):
    building = world.buildings["a2x"]
    today = date(2026, 3, 1)
    for born in (
        date(2019, 3, 1),
        date(2019, 3, 2),
        date(1946, 3, 1),
        date(1946, 3, 2),
        date(2008, 3, 1),
        date(2008, 3, 2),
    ):
        people_in(building, 1, birth_date=born)
    Person.all_objects.filter(pk=world.persons["a2x"].pk).update(birth_date=date(1990, 6, 1))
    persons = visible_under(Person, role_users[Role.DISTRICT_ADMIN], A2X)
    bands = {band["label"]: band["count"] for band in indicators.age_bands(persons, today)}
    # 7 on the day (2019-03-01) and 18 on the day (2008-03-01) move up; 80 on the day is 80+.
    assert bands == {"0–6": 1, "7–17": 2, "18–34": 1, "35–59": 1, "60–79": 1, "80+": 1}


def test_grid_profile_figures(counted, role_users):
    from jiedao.party import services as party
    from jiedao.party.models import Form

    party.create_organisation(None, counted.street_a, Form.WORKING_COMMITTEE)
    party.create_organisation(None, counted.community_a1, Form.GENERAL_BRANCH)
    branch = party.create_organisation(None, counted.grid_a1x, Form.BRANCH)
    party.add_member(None, branch, counted.persons["a1x"])
    profile = indicators.grid_profile(role_users[Role.STREET_STAFF], counted.grid_a1x)
    assert profile["figures"]["population"] == 4
    assert profile["figures"]["households"] == 4
    assert profile["figures"]["buildings"] == 1
    assert profile["figures"]["organisations"] == 1
    assert (profile["open_cases"], profile["overdue_cases"]) == (3, 1)
    assert profile["care"]["any"] == 2
    groups = {group["key"]: group["count"] for group in profile["care"]["groups"]}
    assert groups[CareGroup.DISABLED] == 2 and groups[CareGroup.ELDERLY_ALONE] == 1
    assert sum(band["count"] for band in profile["ages"]) == 4
    assert profile["residence"].persons == 4
    assert len(profile["months"]) == 12
    this_month = timezone.localdate().strftime("%Y-%m")
    assert profile["months"][-1] == {"month": this_month, "count": 5}
    assert profile["categories"] == [{"name": "垃圾清运", "count": 5}]
    rates = {rate["key"]: rate["value"] for rate in profile["rates"]}
    assert rates["cases"] == "5"  # registered in the last 12 months
    assert rates["satisfaction_rate"] == "—"  # nobody rated: no rate, not 0
    assert profile["party"]["organisation"] == branch
    assert profile["party"]["members"] == 1


# --- Permissions ------------------------------------------------------------------------------

# (area inside the role's territory, area outside it) — outside is never visible as structure.
AREAS = {
    Role.GRID_WORKER: (COMMUNITY_A1, COMMUNITY_A2),
    Role.WORKSTATION_STAFF: (COMMUNITY_A1, COMMUNITY_A2),
    Role.COMMITTEE_MEMBER: (COMMUNITY_A1, COMMUNITY_A2),
    Role.STREET_STAFF: (STREET_A, STREET_B),
    Role.STREET_LEADER: (STREET_A, STREET_B),
    Role.DISTRICT_ADMIN: (DISTRICT, OTHER_DISTRICT),
    Role.SYSTEM_ADMIN: (DISTRICT, "110119009000"),  # sees everything: an unknown street
    Role.RESIDENT: (COMMUNITY_A1, COMMUNITY_A2),
    Role.DEPARTMENT_STAFF: (DISTRICT, OTHER_DISTRICT),
}
# (grid inside, grid outside) for the profile.
GRIDS = {
    Role.GRID_WORKER: (A1X, A1Y),
    Role.WORKSTATION_STAFF: (A1Y, A2X),
    Role.COMMITTEE_MEMBER: (A1X, A2X),
    Role.STREET_STAFF: (A2X, B1X),
    Role.STREET_LEADER: (A1X, B1X),
    Role.DISTRICT_ADMIN: (B1X, "110228001001001"),
    Role.SYSTEM_ADMIN: (B1X, "110119009001001"),
    Role.RESIDENT: (A1X, B1X),
    Role.DEPARTMENT_STAFF: (A1X, B1X),
}
NO_MAP = {Role.RESIDENT, Role.DEPARTMENT_STAFF}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("where", ["inside", "outside"])
def test_permission_matrix(client, world, role_users, role, where):
    client.force_login(role_users[role])
    area = AREAS[role][where == "outside"]
    grid = GRIDS[role][where == "outside"]
    page = client.get(MAP, {"area": area})
    data = client.get(DATA, {"area": area})
    profile = client.get(f"/territory/grids/{grid}/profile/")
    if role in NO_MAP:
        expected = (403, 403, 403)
    elif where == "inside":
        expected = (200, 200, 200)
    else:
        expected = (404, 404, 404)
    assert (page.status_code, data.status_code, profile.status_code) == expected, role
    if data.status_code != 200:
        assert "detail" in data.json()
    if where == "inside" and role not in NO_MAP:
        assert page.context["area"].code == area
        assert profile.context["grid"].code == grid


@pytest.mark.parametrize("url", [MAP, DATA, f"/territory/grids/{A1X}/profile/"])
def test_anonymous_visitors_are_sent_to_the_login(client, world, url):
    response = client.get(url)
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize(
    ("role", "area"),
    [
        (Role.GRID_WORKER, A1X),
        (Role.WORKSTATION_STAFF, COMMUNITY_A1),
        (Role.STREET_STAFF, STREET_A),
        (Role.DISTRICT_ADMIN, DISTRICT),
        (Role.SYSTEM_ADMIN, DISTRICT),
    ],
)
def test_default_area_is_the_top_of_the_users_territory(client, world, role_users, role, area):
    client.force_login(role_users[role])
    response = client.get(MAP)
    assert response.status_code == 200
    assert response.context["area"].code == area


def test_grid_worker_in_two_communities_gets_their_street(client, world, role_users):
    user = role_users[Role.GRID_WORKER]
    from jiedao.accounts.models import RoleGrant

    RoleGrant.objects.create(user=user, role=Role.GRID_WORKER, grid=world.grid_a2x)
    user.clear_grant_cache()
    assert indicators.default_area(user).code == STREET_A
    client.force_login(user)
    rows = client.get(MAP).context["rows"]
    assert [row["code"] for row in rows] == [A1X, A2X]


def test_navigation_and_grid_page_links(client, world, role_users):
    from jiedao.core.shell import navigation

    for role in (Role.STREET_STAFF, Role.GRID_WORKER, Role.DISTRICT_ADMIN):
        assert "territory:map" in [item.url_name for item in navigation(role_users[role])]
    for role in (Role.DEPARTMENT_STAFF, Role.RESIDENT):
        assert "territory:map" not in [item.url_name for item in navigation(role_users[role])]
    profile_url = reverse("territory:grid_profile", args=[A1X])
    client.force_login(role_users[Role.STREET_STAFF])
    assert profile_url in client.get(f"/territory/grids/{A1X}/").content.decode()
    client.force_login(role_users[Role.DEPARTMENT_STAFF])
    page = client.get(f"/territory/grids/{A1X}/")
    assert page.status_code == 200 and profile_url not in page.content.decode()


# --- Bad parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"area": "abc"}, 400),
        ({"area": "1101190010"}, 400),  # ten digits
        ({"area": "１１０１１９００１０００"}, 400),  # full-width digits
        ({"area": "110119001000' OR 1=1"}, 400),
        ({"area": "110119009000"}, 404),  # well formed, no such street
        ({"area": "110119001009001"}, 404),  # well formed, no such grid
        ({"area": STREET_A, "indicator": "bogus"}, 400),
        ({"area": STREET_A, "indicator": "care_"}, 400),
    ],
)
def test_bad_parameters_on_the_map_page(client, world, role_users, params, status):
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(MAP, params)
    assert response.status_code == status
    if status == 400:
        text = response.content.decode()
        assert "indicator" in text.lower() or "digit" in text


@pytest.mark.parametrize(
    ("area", "status"), [("abc", 400), ("", 200), ("110119009000", 404), (A1X, 200)]
)
def test_bad_parameters_on_the_map_data(client, world, role_users, area, status):
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(DATA, {"area": area})
    assert response.status_code == status
    body = response.json()
    if status != 200:
        assert body["detail"]
    elif area == A1X:
        assert [feature["id"] for feature in body["features"]] == [A1X]


@pytest.mark.parametrize("code", ["nope", "110119009001001", "1" * 40])
def test_unknown_grid_profile_is_404(client, world, role_users, code):
    client.force_login(role_users[Role.STREET_STAFF])
    assert client.get(f"/territory/grids/{code}/profile/").status_code == 404


# --- The GeoJSON --------------------------------------------------------------------------------


def test_map_data_is_geojson_with_every_indicator(client, counted, role_users):
    Grid.all_objects.filter(code=A1Y).update(boundary=None)
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(DATA, {"area": STREET_A})
    assert response["Content-Type"].startswith("application/geo+json")
    assert "private" in response["Cache-Control"] and "max-age" in response["Cache-Control"]
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["area"] == {"code": STREET_A, "name": "香水园街道", "level": "street"}
    assert body["partial"] is False and body["simplified"] is False
    assert [i["key"] for i in body["indicators"]] == list(indicators.INDICATOR_KEYS)
    features = {feature["id"]: feature for feature in body["features"]}
    assert list(features) == [A1X, A1Y, A2X]
    for code, feature in features.items():
        assert feature["type"] == "Feature"
        props = feature["properties"]
        assert set(indicators.INDICATOR_KEYS) <= set(props)
        assert {key: props[key] for key in EXPECTED[code]} == EXPECTED[code]
        assert props["url"] == f"/territory/grids/{code}/profile/"
        assert props["code"] == code and props["name"]
    assert features[A1Y]["geometry"] is None  # no boundary: listed, not drawn
    geometry = shape(features[A1X]["geometry"])
    assert geometry.geom_type == "Polygon" and geometry.is_valid


def test_street_staff_district_payload_is_partial(client, counted, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    body = client.get(DATA, {"area": DISTRICT}).json()
    assert body["partial"] is True and body["simplified"] is True
    assert [feature["id"] for feature in body["features"]] == [A1X, A1Y, A2X]


def _circle(lng: float, lat: float, radius: float, points: int) -> dict:
    ring = [
        [
            lng + radius * math.cos(2 * math.pi * i / points),
            lat + radius * math.sin(2 * math.pi * i / points),
        ]
        for i in range(points)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _vertices(geometry: dict) -> int:
    return sum(len(ring) for ring in geometry["coordinates"])


def test_district_boundaries_are_simplified_street_ones_are_not(client, world, role_users):
    detailed = {A1X: _circle(115.96, 40.46, 0.003, 600), B1X: _circle(115.99, 40.46, 0.003, 600)}
    for code, boundary in detailed.items():
        Grid.all_objects.filter(code=code).update(boundary=boundary)
    client.force_login(role_users[Role.DISTRICT_ADMIN])
    street = client.get(DATA, {"area": STREET_A})
    district = client.get(DATA, {"area": DISTRICT})
    street_a1x = next(f for f in street.json()["features"] if f["id"] == A1X)
    district_a1x = next(f for f in district.json()["features"] if f["id"] == A1X)
    assert _vertices(street_a1x["geometry"]) == 601
    assert _vertices(district_a1x["geometry"]) < 601 / 4
    simplified = shape(district_a1x["geometry"])
    assert simplified.is_valid
    # Still the same place: the simplified circle covers nearly all of the original.
    original = shape(detailed[A1X])
    assert simplified.intersection(original).area / original.area > 0.95
    assert len(district.content) < len(street.content) + 2000  # one more circle, yet smaller


def test_simplified_keeps_an_invalid_boundary_as_it_is():
    from jiedao.territory.views_map import simplified

    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    square = f.square(115.9, 40.4)
    result = simplified([bowtie, None, square], 0.0002)
    assert result[0] == bowtie and result[1] is None
    assert shape(result[2]).equals(shape(square))


# --- Pages ----------------------------------------------------------------------------------------


def test_map_page_shows_the_switcher_the_map_and_the_table(client, counted, role_users, settings):
    settings.JIEDAO_MAP_TILE_URL = ""
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(MAP, {"area": STREET_A, "indicator": "overdue_cases"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "data-choropleth" in html
    assert f'data-src="/territory/map/data.json?area={STREET_A}"' in html
    assert 'data-indicator-control="#map-indicator"' in html
    assert 'data-map-tiles=""' in html  # no tiles: the grids on a plain background
    assert '<option value="overdue_cases" selected>' in html
    assert html.count('<option value="') == len(indicators.INDICATORS)
    rows = response.context["rows"]
    assert [row["cells"][2] for row in rows] == [3, 0, 1]  # open cases column
    assert f'href="/territory/grids/{A1X}/profile/"' in html
    assert "香水园第二网格" in html


def test_map_page_passes_the_tile_settings(client, world, role_users, settings):
    settings.JIEDAO_MAP_TILE_URL = "https://t0.example.test/{z}/{x}/{y}?tk=KEY"
    settings.JIEDAO_MAP_TILE_ATTRIBUTION = "© 天地图"
    settings.JIEDAO_MAP_TILE_SUBDOMAINS = "01234567"
    client.force_login(role_users[Role.STREET_STAFF])
    html = client.get(MAP).content.decode()
    assert 'data-map-tiles="https://t0.example.test/{z}/{x}/{y}?tk=KEY"' in html
    assert 'data-map-attribution="© 天地图"' in html
    assert 'data-map-subdomains="01234567"' in html


def test_map_export_is_the_table_and_is_audited(client, counted, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(MAP, {"area": STREET_A, "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:3] == ("Code", "Grid", "Community") and "Overdue cases" in header
    assert [row[0] for row in rows[1:]] == [A1X, A1Y, A2X]
    assert rows[1][header.index("Population")] == 4
    assert rows[1][header.index("Open cases")] == 3
    with unscoped():
        assert AuditEntry.objects.filter(action="export.grid-map").count() == 1


def test_grid_profile_page(client, counted, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(f"/territory/grids/{A1X}/profile/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("data-chart=") == 3
    assert f'href="/territory/grids/{A1X}/"' in html  # back to the grid page
    assert f"/territory/map/?area={COMMUNITY_A1}" in html
    assert "No party branch is set up for this grid." in html
    assert response.context["profile"]["figures"]["population"] == 4

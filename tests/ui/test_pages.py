"""Every page of the UI shell renders for a user allowed to see it, in both languages."""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse
from django.utils import translation

from jiedao.accounts.roles import Role
from tests import factories as f

pytestmark = pytest.mark.django_db


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def h1(text: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.S)
    assert match, "page has no <h1>"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


@pytest.fixture
def leader(client, role_users):
    client.force_login(role_users[Role.STREET_LEADER])
    return role_users[Role.STREET_LEADER]


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def test_staff_home_has_a_card_with_figures_and_chart(client, leader, world):
    page = html(client.get(reverse("core:home")))
    assert h1(page) == "Overview"
    assert world.street_a.name in page
    assert "Street leader" in page
    assert "data-chart=" in page
    for label in ("Grids", "Buildings", "Dwellings", "Households", "Population", "Organisations"):
        assert f"<dt>{label}</dt>" in page


def test_staff_shell_has_navigation_user_menu_and_switches(client, leader):
    page = html(client.get(reverse("core:home")))
    assert 'class="skip-link" href="#main"' in page
    assert 'lang="en"' in page
    assert f'href="{reverse("territory:community_list")}"' in page
    assert f'href="{reverse("audit:list")}"' in page
    assert f'href="{reverse("accounts:security")}"' in page
    assert f'action="{reverse("accounts:logout")}" method="post"' in page
    assert 'action="/i18n/setlang/" method="post"' in page
    assert f'action="{reverse("core:elder_mode")}" method="post"' in page
    assert 'aria-current="page"' in page


def test_resident_home_uses_the_resident_shell(client, role_users, world):
    client.force_login(role_users[Role.RESIDENT])
    page = html(client.get(reverse("core:home")))
    assert "shell-resident" in page
    assert world.community_a1.name in page
    assert 'class="sidenav"' not in page
    assert f'href="{reverse("accounts:security")}"' in page


def test_system_admin_home_without_node(client, role_users):
    client.force_login(role_users[Role.SYSTEM_ADMIN])
    page = html(client.get(reverse("core:home")))
    assert "The whole system" in page


def test_department_home(client, role_users, world):
    client.force_login(role_users[Role.DEPARTMENT_STAFF])
    page = html(client.get(reverse("core:home")))
    assert world.department.name in page


@pytest.mark.parametrize(
    ("url_name", "heading"),
    [
        ("territory:street_list", "Streets"),
        ("territory:community_list", "Communities"),
        ("territory:grid_list", "Grids"),
        ("territory:building_list", "Buildings"),
        ("territory:organisation_list", "Organisations"),
        ("territory:department_list", "Departments"),
    ],
)
def test_list_pages(client, leader, url_name, heading):
    page = html(client.get(reverse(url_name)))
    assert h1(page) == heading
    assert 'hx-get="' in page and 'hx-target="#results"' in page
    assert '<label for="q">Search</label>' in page
    assert "format=xlsx" in page


def test_list_rows_link_to_detail_and_search_filters(client, leader, world):
    page = html(client.get(reverse("territory:community_list")))
    assert f'href="{world.community_a1.get_absolute_url()}"' in page
    assert world.community_b1.name not in page  # street B is outside the leader's scope
    page = html(client.get(reverse("territory:community_list"), {"q": "新兴"}))
    assert world.community_a2.name in page and world.community_a1.name not in page


def test_live_search_returns_only_the_table(client, leader, world):
    response = client.get(reverse("territory:grid_list"), {"q": "第二"}, HTTP_HX_REQUEST="true")
    page = html(response)
    assert "<html" not in page
    assert world.grid_a1y.name in page and world.grid_a1x.name not in page
    assert "q=%E7%AC%AC%E4%BA%8C&amp;format=xlsx" in page


def test_dotted_column_paths_resolve(client, leader, world):
    building = world.buildings["a1x"]
    page = html(client.get(reverse("territory:building_list")))
    assert building.address.full_text in page


def test_export_link_downloads_xlsx(client, leader):
    response = client.get(reverse("territory:grid_list"), {"q": "香水园", "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")


def test_pagination_keeps_the_query(client, leader, world):
    for n in range(55):
        f.OrganisationFactory(grid=world.grid_a1x, name=f"测试单位{n}")
    page = html(client.get(reverse("territory:organisation_list"), {"q": "测试"}))
    assert "Page 1 of 2" in page
    assert "q=%E6%B5%8B%E8%AF%95&amp;page=2" in page
    page = html(client.get(reverse("territory:organisation_list"), {"q": "测试", "page": 2}))
    assert "Page 2 of 2" in page


@pytest.mark.parametrize("node", ["street_a", "community_a1", "grid_a1x"])
def test_node_detail(client, leader, world, node):
    obj = getattr(world, node)
    page = html(client.get(obj.get_absolute_url()))
    assert h1(page) == obj.name
    assert 'aria-label="Breadcrumb"' in page
    # The chart compares child areas, so it needs two: grid A1x has a single building.
    assert ("data-chart=" in page) == (node != "grid_a1x")
    # Factories give grids a boundary (a community map shows its grids), not streets.
    assert ("data-map data-geojson" in page) == (node != "street_a")


def test_community_detail_lists_grids_and_maps_them(client, leader, world):
    page = html(client.get(world.community_a1.get_absolute_url()))
    assert world.street_a.name in page  # breadcrumb
    assert f'href="{world.grid_a1x.get_absolute_url()}"' in page
    assert "&quot;FeatureCollection&quot;" in page


def test_building_detail(client, leader, world):
    building = world.buildings["a1x"]
    page = html(client.get(building.get_absolute_url()))
    assert h1(page) == building.name
    assert "Dwellings" in page and world.grid_a1x.name in page


def test_organisation_and_department_detail(client, leader, role_users, world):
    organisation = f.OrganisationFactory(
        grid=world.grid_a1x, name="延庆第一中学", credit_code="91110229MA00000000"
    )
    page = html(client.get(organisation.get_absolute_url()))
    assert h1(page) == "延庆第一中学" and "91110229MA00000000" in page
    client.force_login(role_users[Role.DISTRICT_ADMIN])
    page = html(client.get(world.department.get_absolute_url()))
    assert h1(page) == world.department.name


def test_audit_list(client, leader):
    page = html(client.get(reverse("audit:list")))
    assert h1(page) == "Audit trail"
    assert "format=xlsx" in page and '<label for="q">Search</label>' in page


def test_login_pages(client):
    page = html(client.get(reverse("accounts:login")))
    assert h1(page) == "Sign in"
    assert '<label for="id_username">Username</label>' in page
    assert '<label for="id_password">Password</label>' in page


def test_locked_out_page(client, rf):
    from jiedao.accounts.views import locked_out

    request = rf.get("/accounts/login/")
    request.user = type("Anon", (), {"is_authenticated": False, "is_staff_member": False})()
    request.session = {}
    response = locked_out(request)
    assert response.status_code == 429
    assert "Sign-in locked" in response.content.decode()


def test_security_page_enrolment_flow(client, leader):
    page = html(client.get(reverse("accounts:security")))
    assert "Set up two-step sign-in" in page
    page = html(client.post(reverse("accounts:security"), {"start": "1"}))
    assert 'src="data:image/svg+xml;base64,' in page
    assert 'class="secret"' in page
    assert '<label for="id_token">' in page


def test_login_totp_page(client, role_users):
    session = client.session
    session["jiedao_pending_user"] = [role_users[Role.STREET_LEADER].pk, int(time.time())]
    session.save()
    page = html(client.get(reverse("accounts:login_totp")))
    assert h1(page) == "Two-step sign-in"


def test_404_page_uses_the_shell(client, leader, settings):
    settings.DEBUG = False
    response = client.get("/territory/streets/999999999999/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_403_page(client, role_users, settings):
    settings.DEBUG = False
    client.force_login(role_users[Role.GRID_WORKER])
    response = client.get(reverse("audit:list"))
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()


def test_500_page_renders_without_context():
    from django.template.loader import render_to_string

    assert "Server error" in render_to_string("500.html")

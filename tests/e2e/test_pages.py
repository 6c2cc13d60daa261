"""Every staff page in a real browser: accessible (axe), no sideways scroll on a phone, charts,
maps and live search working (run with ``-m e2e``)."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import SIZES, blocking_violations, sign_in

pytestmark = pytest.mark.e2e

PAGES = [
    "/home/",
    "/territory/streets/",
    "/territory/communities/",
    "/territory/grids/",
    "/territory/buildings/",
    "/territory/dwellings/",
    "/territory/addresses/",
    "/territory/organisations/",
    "/territory/departments/",
    "/audit/",
    "/workdays/",
    "/accounts/security/",
    "/cases/desk/",
    "/cases/hotline/",
    "/cases/map/",
    "/cases/metrics/",
    "/cases/league/",
    "/cases/catalogue/categories/",
    "/cases/catalogue/routing/",
    "/notifications/",
]
DETAIL_LISTS = {
    "street": "/territory/streets/",
    "community": "/territory/communities/",
    "grid": "/territory/grids/",
    "building": "/territory/buildings/",
    "organisation": "/territory/organisations/",
    "department": "/territory/departments/",
    "case": "/cases/desk/?queue=in_progress",
}


@pytest.fixture(params=list(SIZES))
def leader_page(request, browser, demo_server):
    size = request.param
    context = browser.new_context(
        viewport=SIZES[size], is_mobile=size == "phone", has_touch=size == "phone", locale="zh-CN"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, demo_server.base_url, "leader")
    yield size, page, errors
    context.close()


def first_detail_urls(page, base_url: str) -> dict[str, str]:
    urls = {}
    for name, path in DETAIL_LISTS.items():
        page.goto(base_url + path)
        urls[name] = base_url + page.locator("#results tbody a").first.get_attribute("href")
    return urls


def check_page(page, url: str, size: str, errors: list[str]) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    problems = [f"{url}: {v}" for v in blocking_violations(page)]
    if size == "phone":
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > SIZES["phone"]["width"]:
            problems.append(f"{url}: the page scrolls sideways on a phone ({width}px)")
    problems += [f"{url}: script error {error}" for error in errors]
    errors.clear()
    return problems


def test_every_page_is_accessible(leader_page, demo_server, artifacts):
    size, page, errors = leader_page
    base = demo_server.base_url
    urls = [base + path for path in PAGES]
    urls += list(first_detail_urls(page, base).values())
    problems = []
    for url in urls:
        problems += check_page(page, url, size, errors)
    page.click("form[action$='/elder-mode/'] button")
    page.wait_for_load_state("networkidle")
    for url in urls[:3] + urls[-6:]:
        problems += check_page(page, url, size, errors)
    page.screenshot(path=artifacts / f"ui-{size}-elder-last.png", full_page=True)
    assert problems == [], "\n".join(problems)


def test_charts_and_maps_render(leader_page, demo_server, artifacts):
    size, page, errors = leader_page
    urls = first_detail_urls(page, demo_server.base_url)
    page.goto(urls["community"])
    page.locator("[data-chart] svg").first.wait_for()
    page.locator("[data-map] path.leaflet-interactive").first.wait_for()
    assert page.locator("[data-map] .map-label").count() >= 1  # grid names on the map
    page.screenshot(path=artifacts / f"ui-{size}-community.png", full_page=True)
    page.goto(urls["grid"])
    page.locator("[data-map] path.leaflet-interactive").first.wait_for()
    assert errors == []


def test_live_search_swaps_the_table(leader_page, demo_server):
    _size, page, errors = leader_page
    page.goto(demo_server.base_url + "/territory/buildings/")
    before = page.locator("#results tbody tr").count()
    first_name = page.locator("#results tbody tr td a").first.inner_text()
    with page.expect_response(
        lambda r: "q=" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.fill("#q", first_name)
    page.wait_for_function(f"document.querySelectorAll('#results tbody tr').length < {before}")
    assert page.locator("#results tbody tr td a").first.inner_text() == first_name
    export = page.locator("#results a[href*='format=xlsx']").get_attribute("href")
    assert "q=" in export
    assert page.url.endswith("/territory/buildings/")  # the partial did not replace the page
    assert errors == []

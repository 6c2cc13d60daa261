"""The grid map and the grid profile in a real browser (run with ``-m e2e``): the choropleth
draws, recolours in place when the indicator changes, opens a grid's profile on click; both
pages are accessible (axe) and do not scroll sideways on a phone."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import SIZES, blocking_violations, no_sideways_scroll

pytestmark = pytest.mark.e2e

# frontend/src/choropleth.js: ColorBrewer YlGnBu and the no-data grey.
COLOURS = {"#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494", "#d9d9d9"}
GRIDS = "[data-choropleth] path.leaflet-interactive"


def fills(page) -> list[str]:
    return page.eval_on_selector_all(GRIDS, "els => els.map(e => e.getAttribute('fill'))")


@pytest.mark.parametrize("size", list(SIZES))
def test_grid_map_recolours_in_place_and_opens_profiles(as_user, demo_server, artifacts, size):
    phone = size == "phone"
    page = as_user("street", size=size)
    base = demo_server.base_url

    page.goto(base + "/territory/map/")
    page.locator("#map-legend .choropleth-legend__list li").first.wait_for()
    assert page.locator(GRIDS).count() == page.locator("#map-table tbody tr").count() > 1
    first = fills(page)
    assert set(first) <= COLOURS and len(set(first)) > 1
    assert "map--plain" in (page.get_attribute("[data-choropleth]", "class") or "")
    page.screenshot(path=str(artifacts / f"map-population-{size}.png"), full_page=True)
    title = page.inner_text(".choropleth-legend__title")
    page.evaluate("window.__sameDocument = true")
    page.select_option("#map-indicator", "care_elderly_alone")
    page.wait_for_function(
        f"document.querySelector('.choropleth-legend__title').textContent !== {title!r}"
    )
    assert page.evaluate("window.__sameDocument === true")  # recoloured, not reloaded
    assert fills(page) != first, "the second indicator colours the grids differently"
    assert "indicator=care_elderly_alone" in page.url
    assert page.locator("#map-table th.is-selected[data-key=care_elderly_alone]").count() == 1
    assert blocking_violations(page) == []
    page.screenshot(path=str(artifacts / f"map-elderly-alone-{size}.png"), full_page=True)
    if phone:
        no_sideways_scroll(page, "the map page")
        page.locator("#map-table tbody a").first.click()
    else:
        page.locator(GRIDS).first.click()
    page.wait_for_url("**/profile/")
    page.locator("[data-chart] svg").nth(2).wait_for()
    assert page.locator("[data-chart] svg").count() == 3
    assert blocking_violations(page) == []
    page.screenshot(path=str(artifacts / f"grid-profile-{size}.png"), full_page=True)
    if phone:
        no_sideways_scroll(page, "the grid profile")
    assert page.script_errors == []

"""Grids in the browser: the street office imports grids (a bad file first, then a good one),
looks at the map coloured by two indicators and opens a grid's profile; a grid worker records a
patrol on a phone."""

from __future__ import annotations

import json

import pytest

from tests.e2e.helpers import assert_accessible, no_sideways_scroll

pytestmark = pytest.mark.e2e

STREET = "110119001000"  # the demo street (jiedao/demo/places.py)
RENAMED = "测试更名网格"


def _export(page, base: str) -> dict:
    response = page.request.get(f"{base}/territory/grids/export/?street={STREET}&format=geojson")
    assert response.ok, response.status
    return json.loads(response.text())


def _swapped(collection: dict) -> dict:
    """The same grids with every coordinate given as lat/long: outside China, as typed wrong."""
    bad = json.loads(json.dumps(collection))
    for feature in bad["features"]:
        geometry = feature["geometry"]
        polygons = geometry["coordinates"]
        if geometry["type"] == "Polygon":
            polygons = [polygons]
        for polygon in polygons:
            for ring in polygon:
                for point in ring:
                    point[0], point[1] = point[1], point[0]
    return bad


def _upload(page, base: str, path) -> None:
    page.goto(f"{base}/territory/grids/import/?street={STREET}")
    page.set_input_files("input[name=file]", str(path))
    page.click("main form[enctype] button[type=submit]")


def test_street_imports_grids_after_a_refused_file(as_user, demo_server, artifacts, tmp_path):
    base = demo_server.base_url
    page = as_user("street")
    exported = _export(page, base)
    assert len(exported["features"]) >= 2

    bad = tmp_path / "swapped.geojson"
    bad.write_text(json.dumps(_swapped(exported), ensure_ascii=False), encoding="utf-8")
    _upload(page, base, bad)
    errors = page.locator("#import-errors")
    errors.wait_for()
    assert "纬度和经度似乎颠倒了" in page.locator("main").inner_text()
    assert page.locator("button[name=confirm]").count() == 0, "a refused file offers no import"
    page.screenshot(path=str(artifacts / "grids-import-refused.png"), full_page=True)

    good = json.loads(json.dumps(exported))
    target = good["features"][0]["properties"]
    code = target["code"]
    target["name"] = RENAMED
    path = tmp_path / "renamed.geojson"
    path.write_text(json.dumps(good, ensure_ascii=False), encoding="utf-8")
    _upload(page, base, path)
    plan = page.locator("#import-plan")
    plan.wait_for()
    assert page.locator("main .map .leaflet-interactive").count() >= len(good["features"])
    assert_accessible(page, "grid import check")
    page.screenshot(path=str(artifacts / "grids-import-check.png"), full_page=True)
    page.click("button[name=confirm]")
    page.wait_for_url(f"**/territory/streets/{STREET}/grid-check/")
    page.goto(f"{base}/territory/grids/{code}/")
    assert RENAMED in page.locator("h1").inner_text()

    # 多网融合: the same grid also serves emergencies from now on.
    page.click("#grid-purposes a")
    emergency = page.locator("input[name=purposes][value=emergency]")
    emergency.set_checked(not emergency.is_checked())
    wanted = emergency.is_checked()
    assert_accessible(page, "grid purposes form")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**/territory/grids/{code}/")
    assert ("应急" in page.inner_text("#grid-purposes")) == wanted
    page.screenshot(path=str(artifacts / "grids-purposes-changed.png"), full_page=True)
    assert not page.script_errors


def test_grid_import_page_works_on_a_phone(as_user, demo_server):
    page = as_user("street", size="phone")
    page.goto(f"{demo_server.base_url}/territory/grids/import/")
    no_sideways_scroll(page, "grid import")
    assert_accessible(page, "grid import (phone)")

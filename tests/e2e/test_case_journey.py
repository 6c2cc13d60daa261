"""One case through the whole loop, in the browser, as each role would do it: the resident
reports from their phone's location with a photo; the street registers it, sends it to the
community workstation and blows the whistle (吹哨) to a district department; the department
reports (报到) and records its part; the workstation handles it; the grid worker verifies it on
site; the street closes it; the resident rates it; the metrics move."""

from __future__ import annotations

import json
import re
from io import BytesIO

import pytest
from PIL import Image

from tests.e2e.helpers import assert_accessible, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def journey_facts(demo_server) -> dict:
    script = (
        "import json\n"
        "from shapely.geometry import shape\n"
        "from jiedao.core.scopes import unscoped\n"
        "from jiedao.accounts.models import User\n"
        "with unscoped():\n"
        "    grid = User.objects.get(username='gridworker').grants.get().grid\n"
        "    department = User.objects.get(username='department').grants.get().department\n"
        "point = shape(grid.boundary).representative_point()\n"
        "print(json.dumps({'lng': point.x, 'lat': point.y, 'department': department.name}))\n"
    )
    return json.loads(demo_server.manage("shell", "-c", script).strip().splitlines()[-1])


def _photo(tmp_path) -> str:
    buffer = BytesIO()
    Image.new("RGB", (320, 240), (200, 120, 40)).save(buffer, "JPEG")
    path = tmp_path / "rubbish.jpg"
    path.write_bytes(buffer.getvalue())
    return str(path)


def _step(page, label: str, note: str = "", **choices: str) -> None:
    """Open the step's panel on the case page, choose, add a note, and take it."""
    step = page.locator("details.step", has=page.locator("summary", has_text=label)).first
    if step.get_attribute("open") is None:
        step.locator("summary").click()
    for name, value in choices.items():
        step.locator(f"select[name={name}]").select_option(value)
    if note:
        step.locator("textarea[name=note]").fill(note)
    step.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".messages .error").count() == 0, page.locator(".messages").inner_text()


def _satisfaction(page, base: str) -> tuple[int, int]:
    """满意率's base on the metrics page: (satisfied, rated), read from "268 件中 218 件"."""
    page.goto(f"{base}/cases/metrics/")
    card = page.locator(".metric-card", has=page.locator(".metric-card__label", has_text="满意率"))
    rated, satisfied = (
        int(n)
        for n in re.findall(
            r"[\d,]+", card.locator(".metric-card__base").inner_text().replace(",", "")
        )
    )
    return satisfied, rated


def test_a_case_goes_round_the_whole_loop(browser, demo_server, journey_facts, artifacts, tmp_path):
    base = demo_server.base_url

    def as_user(username: str, **options):
        options = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN", **options}
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        page = context.new_page()
        sign_in(page, base, username)
        return context, page

    street_ctx, street = as_user("street")
    before = _satisfaction(street, base)

    # The resident, on a phone, reports from where they stand with a photo.
    phone_ctx, phone = as_user(
        "resident",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        geolocation={"latitude": journey_facts["lat"], "longitude": journey_facts["lng"]},
        permissions=["geolocation"],
    )
    phone.goto(f"{base}/cases/report/")
    rubbish = phone.locator("select[name=category] option", has_text="垃圾").first
    phone.select_option("select[name=category]", rubbish.get_attribute("value"))
    phone.fill("textarea[name=description]", "楼下垃圾桶已经满了三天，没人清运，气味很大")
    phone.click("[data-locate]")
    phone.wait_for_function("document.querySelector('input[name=lng]').value !== ''")
    phone.set_input_files("input[name=photos]", _photo(tmp_path))
    phone.fill("input[name=caller_phone]", "13812345678")
    phone.screenshot(path=artifacts / "journey-1-resident-report.png", full_page=True)
    assert_accessible(phone, "resident report form")
    phone.click("form.intake button[type=submit]")
    phone.wait_for_url(re.compile(r"/cases/\d+/$"))
    case_url = phone.url
    assert phone.locator(".photos img").count() == 1

    # The street registers it, sends it to the community and summons the department.
    street.goto(case_url)
    _step(street, "立案")
    _step(street, "派遣", handler_type="community")
    street.locator("details.step summary", has_text="吹哨").click()
    street.get_by_label(journey_facts["department"]).check()
    street.fill("textarea[name=reason]", "涉及占道，需要城管执法")
    street.click("form[action$='/summon/'] button[type=submit]")
    street.wait_for_load_state()
    assert journey_facts["department"] in street.locator("#summons-heading + ul").inner_text()
    street.screenshot(path=artifacts / "journey-2-street-dispatched.png", full_page=True)
    assert_accessible(street, "case page (street)")

    # The department reports (报到) and records its part.
    dept_ctx, dept = as_user("department")
    dept.goto(f"{base}/cases/inbox/")
    assert dept.locator("#summons-heading").is_visible()
    dept.goto(case_url)
    dept.click("form[action$='/report/'] button[type=submit]")
    dept.fill("textarea[name=part]", "已现场执法，责令商户清理占道物品")
    dept.click("form[action$='/part/'] button[type=submit]")
    dept.wait_for_load_state()
    assert "已现场执法" in dept.content()

    # The community workstation acknowledges, handles and reports it done.
    ws_ctx, ws = as_user("workstation")
    case_no = case_url.rstrip("/").rsplit("/", 1)[-1]
    ws.goto(f"{base}/cases/inbox/")
    ws.fill("input[name=q]", case_no)  # find it by its number
    ws.click("form.search button[type=submit]")
    ws.click(f"a[href='{case_url.removeprefix(base)}']")
    _step(ws, "签收")
    _step(ws, "联系")
    _step(ws, "开始处置")
    _step(ws, "处置完成", "已协调环卫公司清运，垃圾桶已清空")
    ws.screenshot(path=artifacts / "journey-3-workstation-handled.png", full_page=True)

    # The grid worker verifies on site, from the to-do list.
    grid_ctx, grid = as_user("gridworker")
    grid.goto(f"{base}/cases/todo/")
    assert grid.locator(f"a[href='{case_url.removeprefix(base)}']").count() == 1
    grid.goto(case_url)
    _step(grid, "核查", "现场已清理干净")

    # The street closes it.
    street.goto(case_url)
    _step(street, "结案")

    # The resident rates it on the phone.
    phone.goto(case_url)
    phone.select_option("select[name=rating]", "satisfied")
    phone.select_option("select[name=solved]", "1")
    phone.click("section.panel--ask button[type=submit]")
    phone.wait_for_load_state()
    assert phone.locator(".status").inner_text() == "结案"
    timeline = phone.locator(".timeline").inner_text()
    for label in ["受理", "立案", "派遣", "结案"]:
        assert label in timeline
    phone.screenshot(path=artifacts / "journey-4-resident-rated.png", full_page=True)

    # The metrics count the new case.
    after = _satisfaction(street, base)
    street.screenshot(path=artifacts / "journey-5-metrics.png", full_page=True)
    assert after == (before[0] + 1, before[1] + 1)  # one more rated case, and it was satisfied
    for context in (street_ctx, phone_ctx, dept_ctx, ws_ctx, grid_ctx):
        context.close()

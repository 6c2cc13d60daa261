"""Each demo role signs in and sees a usable, accessible home page; scope holds in the browser."""

from __future__ import annotations

import time

import pytest
from django.utils import translation
from django_tasks import TaskResultStatus

from jiedao.demo.logins import DEMO_LOGINS
from tests.e2e.helpers import assert_accessible, sign_in

pytestmark = pytest.mark.e2e

STAFF_LISTS = [
    "/territory/streets/",
    "/territory/communities/",
    "/territory/grids/",
    "/territory/buildings/",
    "/territory/organisations/",
    "/audit/",
]


@pytest.mark.parametrize("login", DEMO_LOGINS, ids=[login.username for login in DEMO_LOGINS])
def test_each_role_signs_in_to_an_accessible_home(page, demo_server, artifacts, login):
    sign_in(page, demo_server.base_url, login.username)

    assert page.locator("main#main").is_visible()
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    page.screenshot(path=artifacts / f"{login.role}-home.png", full_page=True)
    assert_accessible(page, f"{login.username} home")


def test_grid_worker_cannot_open_another_grid(page, demo_server, world_facts):
    sign_in(page, demo_server.base_url, "gridworker")

    own = page.goto(f"{demo_server.base_url}/territory/grids/{world_facts['own_grid']}/")
    other = page.goto(f"{demo_server.base_url}/territory/grids/{world_facts['other_grid']}/")

    assert own.status == 200
    assert other.status == 404


def test_resident_cannot_open_staff_lists(page, demo_server):
    sign_in(page, demo_server.base_url, "resident")
    for path in STAFF_LISTS:
        response = page.goto(f"{demo_server.base_url}{path}")
        assert response.status in (403, 404), f"resident opened {path}"


def test_resident_home_on_a_phone_in_elder_mode(browser, demo_server, artifacts):
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    try:
        page = phone.new_page()
        sign_in(page, demo_server.base_url, "resident")
        with page.expect_navigation():
            page.click("form[action$='/elder-mode/'] button")
        page.wait_for_load_state("load")
        assert "elder" in (page.locator("body").get_attribute("class") or "")
        toggle = page.locator("form[action$='/elder-mode/'] button")
        assert toggle.get_attribute("aria-pressed") == "true"

        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px wide)"
        page.screenshot(path=artifacts / "resident-home-phone-elder.png", full_page=True)
        assert_accessible(page, "resident home, phone, elder mode")
    finally:
        phone.close()


def test_language_switches_to_english_and_back(page, demo_server):
    sign_in(page, demo_server.base_url, "street")

    with page.expect_navigation():
        page.click("button[name=language][value=en]")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("summary", has_text="Account").is_visible()

    with page.expect_navigation():
        page.click("button[name=language][value=zh-hans]")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("summary", has_text="Account").count() == 0


def test_admin_sees_the_periodic_job_run_by_the_demo_worker(page, demo_server, artifacts):
    """run_demo's worker claimed jobs.heartbeat_cleanup's slot and ran it."""
    with translation.override("zh-hans"):
        successful = str(TaskResultStatus.SUCCESSFUL.label)
    sign_in(page, demo_server.base_url, "admin")
    deadline = time.monotonic() + 30
    while True:
        page.goto(f"{demo_server.base_url}/admin/jobs/periodicrun/")
        summary = page.locator("#periodic-jobs tbody tr", has_text="jobs.heartbeat_cleanup")
        cells = summary.locator("td").all_inner_texts()
        if cells and cells[3] == successful:
            break
        assert time.monotonic() < deadline, f"heartbeat_cleanup never ran: {cells}"
        time.sleep(1)
    page.screenshot(path=artifacts / "admin-periodic-jobs.png", full_page=True)

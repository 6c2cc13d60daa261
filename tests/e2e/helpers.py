"""What every browser test does: sign in as a demo user, and check a page with axe-core."""

from __future__ import annotations

import json

from axe_playwright_python.sync_playwright import Axe

from jiedao.demo.logins import DEMO_PASSWORD

BLOCKING_IMPACTS = {"serious", "critical"}
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base_url}/home/")


def blocking_violations(page) -> list[str]:
    """Serious or critical axe-core violations on the page, one line each."""
    violations = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v.get("impact") in BLOCKING_IMPACTS
    ]


def assert_accessible(page, label: str) -> None:
    blocking = blocking_violations(page)
    assert not blocking, f"{label}: serious or critical accessibility violations:\n" + "\n".join(
        blocking
    )


def no_sideways_scroll(page, label: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SIZES["phone"]["width"], f"{label} scrolls sideways on a phone ({width}px)"


def shell_json(demo_server, script: str) -> object:
    """Run ``script`` in the server's ``manage.py shell``; its last printed line, as JSON."""
    return json.loads(demo_server.manage("shell", "-c", script).strip().splitlines()[-1])

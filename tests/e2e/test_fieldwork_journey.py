"""Field work in the browser on a phone: the grid worker starts a patrol, the phone records and
uploads the track, the network drops as the patrol is ended, and the form kept on the phone is
sent when it comes back, once; supervisors read the patrol list and the attendance chart. Pages
are checked with axe-core and for sideways scrolling."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.helpers import assert_accessible, no_sideways_scroll, shell_json

pytestmark = pytest.mark.e2e

FACTS = """
import json
from shapely.geometry import shape
from jiedao.accounts.models import User
from jiedao.core.scopes import unscoped
from jiedao.fieldwork.models import Patrol
with unscoped():
    worker = User.objects.get(username='gridworker')
    Patrol.objects.filter(worker=worker, ended_at__isnull=True).delete()
    point = shape(worker.grants.get().grid.boundary).representative_point()
print(json.dumps({'lng': point.x, 'lat': point.y, 'worker': worker.pk}))
"""

PATROL = """
import json
from jiedao.core.scopes import unscoped
from jiedao.fieldwork.models import Patrol, SentForm
with unscoped():
    patrol = Patrol.objects.filter(worker_id=%d).order_by('-pk').first()
    print(json.dumps({
        'pk': patrol.pk, 'ended': patrol.ended_at is not None, 'note': patrol.note,
        'points': patrol.point_count, 'ends': SentForm.objects.filter(kind='patrol.end', object_id=patrol.pk).count(),
    }))
"""


def _report_finding(page, base: str) -> None:
    """From the day page: "Report a finding", marked on the map, becomes a case of the patrol.
    (Not "use my location": after the day page's GPS watch ends, headless chromium's emulated
    position answers no further one-off request.)"""
    page.click("a[href$='/cases/patrol/']")
    category = page.locator("select[name=category] option", has_text="垃圾").first
    page.select_option("select[name=category]", category.get_attribute("value"))
    page.fill("textarea[name=description]", "巡查发现：小区东门垃圾满溢")
    page.locator("[data-map-pick]").click()  # the middle of the worker's grid
    page.wait_for_function("document.querySelector('input[name=lng]').value !== ''")
    page.click("form.intake button[type=submit]")
    page.wait_for_url(re.compile(r"/cases/\d+/$"))
    page.goto(f"{base}/fieldwork/today/")
    page.wait_for_selector("[data-patrol-id]")


def test_a_patrol_on_a_phone_with_a_flaky_network(as_user, demo_server, artifacts):
    facts = shell_json(demo_server, FACTS)
    where = {"latitude": facts["lat"], "longitude": facts["lng"], "accuracy": 6}
    page = as_user("gridworker", "phone", geolocation=where, permissions=["geolocation"])
    base = demo_server.base_url
    page.goto(f"{base}/fieldwork/today/")
    assert_accessible(page, "today, no patrol")
    no_sideways_scroll(page, "today")
    page.click("form[action$='/patrols/start/'] button[type=submit]")
    page.wait_for_selector("[data-patrol-id]")
    for step in range(1, 4):  # walking east, ~4 m every 5.5 s
        time.sleep(5.5)
        page.context.set_geolocation({**where, "longitude": facts["lng"] + step * 0.00005})
    page.wait_for_function(
        "document.querySelector('[data-patrol-points]').textContent.trim() !== '0'", timeout=30_000
    )
    assert_accessible(page, "today, on patrol")
    page.screenshot(path=str(artifacts / "patrol-1-recording-phone.png"), full_page=True)
    _report_finding(page, base)

    page.context.set_offline(True)
    page.fill("form[data-patrol-end] textarea[name=note]", "离线结束")
    page.click("form[data-patrol-end] button[type=submit]")
    page.wait_for_selector(".outbox-note")
    page.wait_for_selector(".outbox-banner .outbox-banner__send")
    page.screenshot(path=str(artifacts / "patrol-2-offline-kept-phone.png"), full_page=True)
    assert not shell_json(demo_server, PATROL % facts["worker"])["ended"]

    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_function("!document.querySelector('.outbox-banner__send')", timeout=30_000)
    stored = shell_json(demo_server, PATROL % facts["worker"])
    assert stored["ended"] and stored["note"] == "离线结束" and stored["ends"] == 1
    assert stored["points"] >= 2
    page.goto(f"{base}/fieldwork/patrols/{stored['pk']}/")
    page.wait_for_selector(".map.leaflet-container")
    assert "巡查发现：小区东门垃圾满溢" in page.locator("main").inner_text()  # the finding
    assert_accessible(page, "patrol page")
    page.screenshot(path=str(artifacts / "patrol-3-track-phone.png"), full_page=True)
    no_sideways_scroll(page, "patrol page")
    assert not page.script_errors


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_supervisors_read_patrols_and_attendance(as_user, demo_server, artifacts, size):
    page = as_user("street", size)
    base = demo_server.base_url
    page.goto(f"{base}/fieldwork/patrols/")
    assert_accessible(page, f"patrol list ({size})")
    page.goto(f"{base}/fieldwork/attendance/")
    page.wait_for_selector("[data-chart] svg")
    assert_accessible(page, f"attendance ({size})")
    page.screenshot(path=str(artifacts / f"attendance-{size}.png"), full_page=True)
    if size == "phone":
        no_sideways_scroll(page, "attendance")
    assert not page.script_errors

"""The population registry in the browser, as each role uses it: the street imports a
public-security extract with mistakes in it (dry run, report, confirm); the community workstation
reveals a phone number with a reason; the street reconciles 人户分离 and drills down; the grid
worker records a door-to-door verification on a phone and sees only their own grid. Every main
page is checked with axe-core at desktop and phone size."""

from __future__ import annotations

import csv
import datetime
import io
import random
import re
import time

import pytest

from jiedao.core.identity import make_identity_number
from tests.e2e.helpers import SIZES, assert_accessible, no_sideways_scroll, shell_json

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 120_000  # ms: a dry run or an import in the demo's background worker
REGION = "659001"  # no demo person is registered there: the imported numbers are new
UNKNOWN_ADDRESS = "妫水南街999号院9号楼9单元909"
SURNAME = "司徒"
TOKEN_CHARS = "验测试样例甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"  # a per-run name stem

FACTS_SCRIPT = """
import json
from collections import Counter
from jiedao.accounts.models import User
from jiedao.core.scopes import unscoped
from jiedao.registry.models import Person
from jiedao.territory.models import Community, Dwelling, Grid

def grant(username):
    return User.objects.get(username=username).grants.get()

with unscoped():
    street = grant('street').street
    community = grant('workstation').community
    grid = grant('gridworker').grid
    texts = Counter(
        Dwelling.all_objects.filter(territory_code__startswith=street.scope_prefix)
        .values_list('address__full_text', flat=True)
    )
    elsewhere = (
        Dwelling.all_objects.filter(territory_code__startswith=street.scope_prefix)
        .exclude(territory_code__startswith=community.scope_prefix)
        .order_by('-id').values_list('address__full_text', flat=True)
    )
    addresses = [text for text in elsewhere if texts[text] == 1][:3]
    reachable = (
        Person.all_objects.filter(territory_code__startswith=community.scope_prefix)
        .exclude(dwelling=None).order_by('id')[:200]
    )
    phoned = next(person for person in reachable if person.phone)
    communities = Community.all_objects.filter(code__startswith=street.scope_prefix)
    first = communities.order_by('code').first()
    print(json.dumps({
        'street': {'code': street.code, 'name': street.name},
        'addresses': addresses,
        'communities': [c.name for c in communities.order_by('code')],
        'first_community': {
            'code': first.code,
            'name': first.name,
            'grids': Grid.all_objects.filter(code__startswith=first.scope_prefix).count(),
        },
        'reveal_person': {'pk': phoned.pk, 'name': phoned.name, 'phone': phoned.phone},
        'grid': {
            'code': grid.code,
            'persons': sorted(
                Person.all_objects.filter(territory_code__startswith=grid.scope_prefix)
                .values_list('pk', flat=True)
            ),
        },
        'other_grid_person': Person.all_objects.exclude(
            territory_code__startswith=grid.scope_prefix
        ).order_by('id').values_list('pk', flat=True).first(),
    }))
"""


@pytest.fixture(scope="module")
def facts(demo_server) -> dict:
    found = shell_json(demo_server, FACTS_SCRIPT)
    assert isinstance(found, dict)
    assert len(found["addresses"]) == 3, "the demo street needs 3 dwellings with unique addresses"
    return found


def _count(text: str) -> int:
    """The first number of a status line such as "100 persons" or "共 10 人"."""
    found = re.search(r"\d[\d,]*", text)
    assert found, f"no number in {text!r}"
    return int(found.group().replace(",", ""))


def _listed(page, base: str, query: str) -> list[str]:
    """Names the person list shows for a search."""
    page.goto(f"{base}/registry/people/?q={query}")
    return page.locator("#results tbody td:first-child a").all_inner_texts()


# --- 1. Import with errors -------------------------------------------------------------------


def _extract_rows(
    addresses: list[str], stem: str, rng: random.Random
) -> tuple[list[list[str]], list[dict[str, str]]]:
    """Five persons of five one-person households: three good, row 5 with a wrong check
    digit, row 6 at an address no dwelling has. Fresh names and numbers on every run."""
    serials = rng.sample(range(100, 999), 5)
    numbers = [
        make_identity_number(
            REGION,
            datetime.date(rng.randint(1950, 1999), rng.randint(1, 12), rng.randint(1, 28)),
            s,
        )
        for s in serials
    ]
    valid = numbers[3]
    numbers[3] = valid[:-1] + ("1" if valid[-1] == "0" else "0")  # a typo in the check digit
    names = [f"{stem}{word}" for word in "一二三四五"]
    homes = [*addresses, addresses[0], UNKNOWN_ADDRESS]
    household = rng.randint(10**8, 10**9 - 1)
    rows = [
        [f"E{household + index}", names[index], numbers[index], "户主", homes[index]]
        for index in range(5)
    ]
    people = [{"name": names[i], "identity": numbers[i]} for i in range(5)]
    return rows, people


def _csv_file(tmp_path, rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["户号", "姓名", "公民身份号码", "与户主关系", "住址"])
    writer.writerows(rows)
    path = tmp_path / "公安户籍导出.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))  # as Excel saves "CSV UTF-8"
    return str(path)


def _problems(page) -> set[tuple[str, str]]:
    cells = page.locator("section[aria-labelledby=problems-heading] tbody tr")
    found = set()
    for index in range(cells.count()):
        row = cells.nth(index).locator("td").all_inner_texts()
        found.add((row[0].strip(), row[1].strip()))
    return found


def test_import_with_errors_reports_rows_and_imports_only_after_confirming(
    as_user, demo_server, facts, artifacts, tmp_path
):
    base = demo_server.base_url
    rng = random.Random(time.time_ns())
    stem = SURNAME + "".join(rng.sample(TOKEN_CHARS, 3))  # no generated name contains it
    rows, people = _extract_rows(facts["addresses"], stem, rng)
    page = as_user("street")

    page.goto(f"{base}/registry/imports/new/")
    page.check("input[name=source][value=registry]")
    page.select_option("select[name=territory]", facts["street"]["code"])
    page.set_input_files("input[name=file]", _csv_file(tmp_path, rows))
    page.screenshot(path=artifacts / "registry-1-import-upload.png", full_page=True)
    assert_accessible(page, "import upload")
    page.click("form.intake button[type=submit]")
    page.wait_for_url(re.compile(r"/registry/imports/\d+/$"))
    job_url = page.url

    # The mapping is suggested from the Chinese headers; the user confirms it.
    mapping = page.locator("form[action$='/mapping/']")
    for key, column in {
        "household_number": "0",
        "name": "1",
        "identity_number": "2",
        "relation": "3",
        "address": "4",
    }.items():
        assert mapping.locator(f"select[name={key}]").input_value() == column, key
    page.screenshot(path=artifacts / "registry-1-import-mapping.png", full_page=True)
    assert_accessible(page, "import mapping")
    mapping.locator("button[type=submit]").click()

    # The dry run's report: both problems with the row numbers Excel shows.
    page.wait_for_selector("#report-heading", timeout=JOB_TIMEOUT)
    assert page.url == job_url
    problems = page.locator("section[aria-labelledby=problems-heading]")
    problems.wait_for()
    assert _problems(page) == {("5", "公民身份号码"), ("6", "住址")}
    reason = problems.locator("tbody tr", has_text="住址").inner_text()
    # The unknown address is echoed masked (road and number only), never the room.
    assert "妫水南街999号" in reason and "909" not in reason
    page.screenshot(path=artifacts / "registry-1-import-dry-run.png", full_page=True)
    assert_accessible(page, "import dry-run report")

    # Nothing is written by the dry run.
    search = as_user("street")
    assert _listed(search, base, stem) == []
    assert _listed(search, base, people[0]["identity"]) == []

    page.click("form[action$='/confirm/'] button[type=submit]")
    page.locator(".page-head__meta .status--closed").wait_for(timeout=JOB_TIMEOUT)
    page.screenshot(path=artifacts / "registry-1-import-done.png", full_page=True)
    assert _problems(page) == {("5", "公民身份号码"), ("6", "住址")}

    for person in people[:3]:
        assert _listed(search, base, person["identity"]) == [person["name"]]
    assert sorted(_listed(search, base, stem)) == sorted(p["name"] for p in people[:3])
    search.screenshot(path=artifacts / "registry-1-import-found.png", full_page=True)

    job_id = int(job_url.rstrip("/").rsplit("/", 1)[-1])
    job = shell_json(
        demo_server,
        "import json\n"
        "from jiedao.registry.models import ImportJob\n"
        f"job = ImportJob.all_objects.get(pk={job_id})\n"
        "print(json.dumps([job.state, job.created_count, job.error_count]))\n",
    )
    assert job == ["done", 3, 2]


# --- 2. Reveal with a reason -------------------------------------------------------------------


def test_workstation_reveals_a_phone_with_a_reason(as_user, demo_server, facts, artifacts):
    base = demo_server.base_url
    target = facts["reveal_person"]
    page = as_user("workstation")

    # Found in the list by the whole phone number, opened from there.
    page.goto(f"{base}/registry/people/")
    with page.expect_response(lambda r: "q=" in r.url and r.request.headers.get("hx-request")):
        page.fill("input[name=q]", target["phone"])
    page.locator("#results tbody a", has_text=target["name"]).first.click()
    page.wait_for_url(f"{base}/registry/people/{target['pk']}/")
    phone = page.locator("#reveal-phone")
    assert target["phone"] not in phone.inner_text()  # masked
    assert_accessible(page, "person page")

    phone.locator("a").click()
    reason_input = page.locator("#reveal-phone input[name=reason]")
    reason_input.fill("看看")  # too short
    page.click("#reveal-phone button[type=submit]")
    page.locator("#reveal-phone .errorlist").wait_for()
    assert target["phone"] not in page.locator("#reveal-phone").inner_text()
    page.screenshot(path=artifacts / "registry-2-reveal-refused.png", full_page=True)
    assert_accessible(page, "reveal form with an error")

    reason = f"回访居民诉求核实联系方式 {time.time_ns() % 100000}"
    page.fill("#reveal-phone input[name=reason]", reason)
    page.click("#reveal-phone button[type=submit]")
    page.locator("#reveal-phone .mono", has_text=target["phone"]).wait_for()
    page.screenshot(path=artifacts / "registry-2-reveal-shown.png", full_page=True)

    audit = shell_json(
        demo_server,
        "import json\n"
        "from jiedao.audit.models import AuditEntry\n"
        "from jiedao.core.scopes import unscoped\n"
        "with unscoped():\n"
        "    rows = AuditEntry.all_objects.filter(\n"
        f"        kind=AuditEntry.Kind.SENSITIVE_READ, object_id='{target['pk']}'\n"
        "    ).order_by('seq')\n"
        "    print(json.dumps([[r.action, r.actor_label, r.note] for r in rows]))\n",
    )
    assert isinstance(audit, list)
    assert [entry for entry in audit if entry[2] == reason] == [
        ["reveal.phone", "workstation", reason]
    ]
    assert "看看" not in [entry[2] for entry in audit]  # the refused try left no trace


# --- 3. Reconciliation -------------------------------------------------------------------------


def test_street_reconciles_and_drills_into_a_community(as_user, demo_server, facts, artifacts):
    base = demo_server.base_url
    page = as_user("street")
    page.goto(f"{base}/registry/reconciliation/")
    table = page.locator("table").first
    assert table.locator("tbody th").all_inner_texts() == facts["communities"]
    for rate in table.locator("tbody tr td:nth-child(4)").all_inner_texts():
        assert re.fullmatch(r"\d+\.\d\s%", rate.strip()), rate
    page.locator("[data-chart] svg").first.wait_for()
    assert page.script_errors == []
    page.screenshot(path=artifacts / "registry-3-reconciliation.png", full_page=True)

    page.click("form[action$='/reconciliation/run/'] button[type=submit]")
    page.wait_for_url(f"{base}/registry/reconciliation/?node={facts['street']['code']}")
    success = page.locator(".messages li.success")
    assert facts["street"]["name"] in success.inner_text()

    community = facts["first_community"]
    page.locator("tbody th a", has_text=community["name"]).click()
    page.wait_for_url(f"{base}/registry/reconciliation/?node={community['code']}")
    assert community["name"] in page.locator("h1").inner_text()
    assert page.locator("table").first.locator("tbody tr").count() == community["grids"]
    page.locator("[data-chart] svg").first.wait_for()
    page.screenshot(path=artifacts / "registry-3-reconciliation-community.png", full_page=True)


# --- 4. Door-to-door verification on a phone ----------------------------------------------------

VERIFICATION_SCRIPT = """
import json
from jiedao.core.scopes import unscoped
from jiedao.registry.models import Verification
with unscoped():
    v = Verification.all_objects.select_related('person').get(pk={pk})
    print(json.dumps({{
        'person': v.person_id, 'name': v.person.name, 'state': v.state, 'result': v.result,
        'note': v.note, 'residence': v.person.residence,
        'verified': v.person.verified_residence, 'by': v.verified_by.username if v.verified_by else '',
    }}))
"""


def _verification(demo_server, pk: int) -> dict:
    found = shell_json(demo_server, VERIFICATION_SCRIPT.format(pk=pk))
    assert isinstance(found, dict)
    return found


def test_grid_worker_records_a_verification_on_a_phone(as_user, demo_server, artifacts):
    base = demo_server.base_url
    page = as_user("gridworker", size="phone")
    page.goto(f"{base}/registry/verify/")
    cards = page.locator("ul.case-cards > li.panel")
    assert cards.count() > 0, "the demo grid worker's worklist is empty"
    waiting = _count(page.locator(".page-head__meta").inner_text())
    no_sideways_scroll(page, "worklist")
    page.screenshot(path=artifacts / "registry-4-worklist-phone.png", full_page=True)

    link = cards.first.locator("h2 a")
    href = link.get_attribute("href") or ""
    verification = int(href.rstrip("/").rsplit("/", 1)[-1])
    before = _verification(demo_server, verification)
    assert before["state"] == "open"
    result = "gone" if before["residence"] != "gone" else "consistent"

    page.goto(f"{base}/registry/people/{before['person']}/")
    status_before = page.locator(".page-head__meta .status").inner_text()

    page.goto(f"{base}/registry/verify/")
    page.locator(f"ul.case-cards a[href='{href}']").first.click()
    page.wait_for_url(f"{base}{href}")
    no_sideways_scroll(page, "verification form")
    page.check(f"input[name=result][value={result}]")
    note = "敲门核实：邻居说此人已于去年搬离，房屋空置"
    page.fill("textarea[name=note]", note)
    page.screenshot(path=artifacts / "registry-4-verify-phone.png", full_page=True)
    page.click(f"form[action='{href}'] button[type=submit]")
    page.wait_for_url(f"{base}/registry/verify/")

    assert before["name"] in page.locator(".messages li.success").inner_text()
    assert page.locator(f"a[href='{href}']").count() == 0
    assert _count(page.locator(".page-head__meta").inner_text()) == waiting - 1
    page.screenshot(path=artifacts / "registry-4-worklist-after-phone.png", full_page=True)

    after = _verification(demo_server, verification)
    assert after["state"] == "done"
    assert (after["result"], after["verified"], after["residence"]) == (result, result, result)
    assert (after["note"], after["by"]) == (note, "gridworker")
    page.goto(f"{base}/registry/people/{before['person']}/")
    assert page.locator(".page-head__meta .status").inner_text() != status_before
    page.screenshot(path=artifacts / "registry-4-person-after-phone.png", full_page=True)


# --- 5. The grid worker's territory --------------------------------------------------------------


def test_grid_worker_sees_only_their_grid(as_user, demo_server, facts):
    base = demo_server.base_url
    page = as_user("gridworker")
    page.goto(f"{base}/registry/people/")
    own = facts["grid"]["persons"]
    assert _count(page.locator("#results p.pagination__status").inner_text()) == len(own)
    shown = {
        int((href or "").rstrip("/").rsplit("/", 1)[-1])
        for href in page.locator("#results tbody td:first-child a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
    }
    assert shown and shown <= set(own)

    response = page.goto(f"{base}/registry/people/{facts['other_grid_person']}/")
    assert response is not None and response.status == 404
    response = page.goto(f"{base}/registry/people/{own[0]}/")
    assert response is not None and response.status == 200


# --- Every main page, both sizes -----------------------------------------------------------------

PAGES = {
    "street": [
        "/registry/people/",
        "/registry/people/{person}/",
        "/registry/imports/",
        "/registry/imports/new/",
        "/registry/reconciliation/",
        "/registry/care/",
        "/registry/care/visits/",
    ],
    "gridworker": ["/registry/verify/", "{verification}", "/registry/care/visits/"],
}


def _first_verification(page, base: str) -> str:
    page.goto(f"{base}/registry/verify/")
    first = page.locator("ul.case-cards h2 a").first
    return (first.get_attribute("href") or "") if first.count() else "/registry/verify/"


def _page_problems(page, url: str, label: str, size: str) -> list[str]:
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    if response is None or response.status != 200:
        return [f"{label}: HTTP {response.status if response else '-'}"]
    try:
        assert_accessible(page, label)
        if size == "phone":
            no_sideways_scroll(page, label)
    except AssertionError as error:
        return [str(error)]
    return []


@pytest.mark.parametrize("size", list(SIZES))
def test_registry_pages_are_accessible(as_user, demo_server, facts, artifacts, size):
    base = demo_server.base_url
    problems: list[str] = []
    for username, paths in PAGES.items():
        page = as_user(username, size=size)
        verification = _first_verification(page, base) if username == "gridworker" else ""
        for path in paths:
            url = base + path.format(person=facts["reveal_person"]["pk"], verification=verification)
            problems += _page_problems(page, url, f"{username} {path} ({size})", size)
            name = re.sub(r"[^a-z0-9]+", "-", path.strip("/{}")).strip("-")
            page.screenshot(
                path=artifacts / f"registry-ui-{size}-{username}-{name}.png", full_page=True
            )
        problems += [f"{username}: script error {e}" for e in page.script_errors]
    assert problems == [], "\n".join(problems)

"""A phone shared by two grid workers: the outbox (frontend/src/outbox.js) and the track recorder
(frontend/src/patrol.js) show, refill, discard and send only what the page's own signed-in user
kept on the phone, never the other user's.

Hermetic: the page, the scripts (frontend/src bundled by esbuild for this test) and the server's
answers (whoami, the track upload, the visit form) are served by Playwright's router from a
made-up origin; no Django server runs. Only chromium is needed."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"
ORIGIN = "http://localhost:8765"  # localhost: a secure context, so geolocation works
WHOAMI = "/fieldwork/whoami/"
VISIT = "/fieldwork/visit/"
ALICE, BOB = 7, 8  # user ids
TRACK = {ALICE: "/fieldwork/patrols/1/track/", BOB: "/fieldwork/patrols/2/track/"}
WHERE = {"latitude": 40.45, "longitude": 115.97, "accuracy": 6}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> str:
    """outbox.js and patrol.js as the app starts them (app.js: renderPatrol, then initOutbox)."""
    if not ESBUILD.exists():
        pytest.fail("node_modules is missing: npm ci")
    folder = tmp_path_factory.mktemp("owners-bundle")
    entry = folder / "entry.js"
    entry.write_text(
        f'import {{ flushOutbox, initOutbox }} from "{ROOT}/frontend/src/outbox.js";\n'
        f'import {{ flushPatrol, renderPatrol }} from "{ROOT}/frontend/src/patrol.js";\n'
        "window.jiedaoTest = { flushOutbox, flushPatrol };\n"
        'for (const el of document.querySelectorAll("[data-patrol]")) renderPatrol(el);\n'
        "initOutbox(document);\n"
    )
    out = folder / "bundle.js"
    subprocess.run(
        [str(ESBUILD), str(entry), "--bundle", "--format=iife", f"--outfile={out}"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return out.read_text()


def page_html(user: int | None, body: str = "") -> str:
    data_user = "" if user is None else str(user)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Field work</title>'
        f'</head><body data-user="{data_user}"><main id="main">{body}</main>'
        '<script src="/bundle.js"></script></body></html>'
    )


def recorder(user: int) -> str:
    texts = json.dumps({"recorded": "Recorded: %(n)s", "waiting": "Waiting: %(n)s"})
    return (
        f'<div data-patrol data-patrol-id="{user}" data-upload-url="{TRACK[user]}" '
        f'data-owner="{user}" data-whoami="{WHOAMI}" data-texts=\'{texts}\'>'
        "<p data-patrol-gps></p><p data-patrol-counts></p></div>"
    )


def visit_form(user: int) -> str:
    config = json.dumps({"owner": user, "whoami": WHOAMI, "texts": {}}).replace('"', "&quot;")
    return (
        f'<form method="post" action="{VISIT}" data-outbox="{config}">'
        '<input type="hidden" name="key" value="fresh-key-0001">'
        '<textarea name="note" aria-label="note"></textarea><button>Send</button></form>'
    )


class Phone:
    """One browser context (one phone: its localStorage and IndexedDB persist across pages)
    and a fake server: who is signed in, and how the track upload answers."""

    def __init__(self, browser, bundle: str) -> None:
        self.context = browser.new_context(
            geolocation=WHERE, permissions=["geolocation"], locale="en-GB"
        )
        self.context.set_default_timeout(15_000)
        self.session: int | None = None  # who the server says is signed in; None: unreachable
        self.uploads: list[str] = []
        self.posts: list[tuple[str, str]] = []
        self.track_answer: dict[str, str] = {}  # url → "offline" | "ok" | "404"
        self.pages: dict[str, str] = {}
        self.bundle = bundle
        self.context.route(re.compile(f"^{re.escape(ORIGIN)}/.*"), self.serve)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", lambda dialog: dialog.accept())

    def serve(self, route) -> None:
        request = route.request
        path = request.url.removeprefix(ORIGIN).split("#")[0]
        if path == "/bundle.js":
            route.fulfill(body=self.bundle, content_type="text/javascript")
        elif path == WHOAMI:
            if self.session is None:
                route.abort()
            else:
                route.fulfill(json={"user": self.session})
        elif path in TRACK.values():
            self.uploads.append(path)
            answer = self.track_answer.get(path, "offline")
            if answer == "offline":
                route.abort()
            elif answer == "404":
                route.fulfill(status=404, json={"code": "not_found", "message": "No such patrol."})
            else:
                points = json.loads(request.post_data or "{}").get("points", [])
                route.fulfill(
                    json={
                        "accepted": len(points),
                        "duplicate": 0,
                        "rejected": [],
                        "point_count": len(points),
                        "flagged_count": 0,
                        "distance_m": 0,
                    }
                )
        elif request.method == "POST":
            self.posts.append((path, request.post_data or ""))
            route.fulfill(
                status=400, body="<main id='main'>refused</main>", content_type="text/html"
            )
        elif path.split("?")[0] in self.pages:
            route.fulfill(body=self.pages[path.split("?")[0]], content_type="text/html")
        else:
            route.fulfill(status=404, body="not found")

    def open(self, path: str, html: str) -> None:
        self.pages[path.split("#")[0].split("?")[0]] = html
        self.page.goto(f"{ORIGIN}{path}")
        self.page.wait_for_function("window.jiedaoTest !== undefined")

    def kept_fixes(self) -> str:
        """Everything the recorder keeps on the phone, whatever its storage format."""
        return self.page.evaluate(
            "Object.keys(localStorage).filter((k) => k.startsWith('jiedao.patrol.fixes'))"
            ".map((k) => localStorage.getItem(k)).join('\\n')"
        )

    def wait_for_a_fix(self, user: int) -> None:
        self.page.wait_for_function(
            "(url) => Object.keys(localStorage).some((k) => k.startsWith('jiedao.patrol.fixes')"
            " && (localStorage.getItem(k) || '').includes(url))",
            arg=TRACK[user],
        )

    def flush_patrol(self) -> None:
        self.page.evaluate("window.jiedaoTest.flushPatrol()")

    def kept_forms(self) -> list[dict]:
        return self.page.evaluate(
            """() => new Promise((resolve, reject) => {
                const open = indexedDB.open("jiedao-outbox", 1);
                open.onupgradeneeded = () => open.result.createObjectStore("forms", { keyPath: "id" });
                open.onsuccess = () => {
                    const all = open.result.transaction("forms").objectStore("forms").getAll();
                    all.onsuccess = () => { open.result.close(); resolve(all.result); };
                    all.onerror = () => reject(all.error);
                };
                open.onerror = () => reject(open.error);
            })"""
        )

    def keep_forms(self, records: list[dict]) -> None:
        self.page.evaluate(
            """(records) => new Promise((resolve, reject) => {
                const open = indexedDB.open("jiedao-outbox", 1);
                open.onupgradeneeded = () => open.result.createObjectStore("forms", { keyPath: "id" });
                open.onsuccess = () => {
                    const tx = open.result.transaction("forms", "readwrite");
                    for (const record of records) tx.objectStore("forms").put(record);
                    tx.oncomplete = () => { open.result.close(); resolve(); };
                    tx.onerror = () => reject(tx.error);
                };
                open.onerror = () => reject(open.error);
            })""",
            records,
        )


@pytest.fixture
def phone(browser, bundle):
    phone = Phone(browser, bundle)
    yield phone
    phone.context.close()


# --- The track recorder -------------------------------------------------------------------------


def test_a_page_uploads_only_its_own_users_fixes(phone):
    """Bob recorded a patrol offline and signed out; Alice signs in on the same phone and
    patrols. Alice's pages upload Alice's fixes; Bob's stay on the phone, never sent under
    Alice's session (the server would answer 404 and they would be lost)."""
    phone.session = BOB
    phone.open("/bob/", page_html(BOB, recorder(BOB)))
    phone.wait_for_a_fix(BOB)
    phone.flush_patrol()  # no network for Bob's upload: kept
    assert TRACK[BOB] in phone.kept_fixes()

    phone.session = ALICE
    phone.track_answer = {TRACK[ALICE]: "ok", TRACK[BOB]: "404"}
    phone.uploads.clear()
    phone.open("/alice/", page_html(ALICE, recorder(ALICE)))
    phone.wait_for_a_fix(ALICE)
    phone.flush_patrol()
    phone.open("/alice/other/", page_html(ALICE))  # another page of Alice's: sends too
    phone.flush_patrol()
    assert TRACK[ALICE] in phone.uploads
    assert TRACK[BOB] not in phone.uploads
    kept = phone.kept_fixes()
    assert TRACK[BOB] in kept and TRACK[ALICE] not in kept
    assert not phone.errors


def test_a_404_for_a_batch_keeps_it_on_the_phone(phone):
    """A patrol the session cannot see (404) is treated like one it may not write to (403):
    the fixes stay for their owner instead of being dropped."""
    phone.session = ALICE
    phone.track_answer = {TRACK[ALICE]: "404"}
    phone.open("/alice/", page_html(ALICE, recorder(ALICE)))
    phone.wait_for_a_fix(ALICE)
    phone.flush_patrol()
    assert TRACK[ALICE] in phone.uploads
    assert TRACK[ALICE] in phone.kept_fixes()
    assert not phone.errors


# --- The outbox ---------------------------------------------------------------------------------


def record(owner: int, key: str, note: str, state: str, *, days_ago: float = 0) -> dict:
    return {
        "id": f"{VISIT} {key}",
        "url": VISIT,
        "page": f"{ORIGIN}/visit/",
        "title": f"Visit {key}",
        "owner": owner,
        "whoami": WHOAMI,
        "entries": [["key", key], ["note", note]],
        "queuedAt": "2026-10-08T09:00:00.000Z",
        "refusedAt": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(),
        "state": state,
        "endsPatrol": False,
    }


def seed(phone) -> None:
    """Alice's refused form; Bob's refused one (recent and a month old) and a waiting one."""
    phone.keep_forms(
        [
            record(ALICE, "alice-refused", "Alice's note", "refused", days_ago=1),
            record(BOB, "bob-refused", "Bob's private note", "refused", days_ago=1),
            record(BOB, "bob-old-refused", "Bob's old note", "refused", days_ago=30),
            record(BOB, "bob-waiting", "Bob's waiting note", "waiting"),
        ]
    )


def test_the_banner_lists_only_the_pages_own_forms(phone):
    """Offline (whoami unreachable) the banner used to list every user's forms: now only the
    page's user's, the others counted in one line; another user's form refused long ago is
    dropped, their recent and waiting ones are kept."""
    phone.open("/start/", page_html(ALICE))
    seed(phone)
    phone.session = None  # the server cannot be reached
    phone.open("/alice/", page_html(ALICE))
    banner = phone.page.locator(".outbox-banner")
    banner.locator("li").first.wait_for()
    items = banner.locator("li").all_inner_texts()
    assert len(items) == 1 and "Visit alice-refused" in items[0]
    assert "bob" not in banner.inner_text().lower()
    assert "Forms of another user are kept on this phone" in banner.inner_text()
    kept = {r["id"].split(" ")[1] for r in phone.kept_forms()}
    assert kept == {"alice-refused", "bob-refused", "bob-waiting"}
    assert not phone.errors


def test_a_signed_out_page_lists_nobodys_forms(phone):
    phone.open("/start/", page_html(None))
    seed(phone)
    phone.open("/login/", page_html(None))
    banner = phone.page.locator(".outbox-banner")
    banner.wait_for()
    assert banner.locator("li").count() == 0
    assert "Sign in again" in banner.inner_text()
    assert len(phone.kept_forms()) == 4  # nothing dropped while nobody is signed in


def test_discard_reaches_only_the_own_forms(phone):
    """Discarding every form the banner offers (offline) leaves the other user's alone."""
    phone.open("/start/", page_html(ALICE))
    seed(phone)
    phone.open("/alice/", page_html(ALICE))
    items = phone.page.locator(".outbox-banner li")
    items.first.wait_for()
    for _ in range(5):
        if not items.count():
            break
        before = items.count()
        items.first.locator("button").click()
        phone.page.wait_for_function(
            "(n) => document.querySelectorAll('.outbox-banner li').length < n", arg=before
        )
    kept = {r["id"].split(" ")[1] for r in phone.kept_forms()}
    assert kept == {"bob-refused", "bob-waiting"}


def test_another_users_form_is_never_refilled(phone):
    phone.open("/start/", page_html(ALICE))
    seed(phone)
    phone.session = ALICE
    phone.open(f"/visit/?try=1#outbox={VISIT} bob-refused", page_html(ALICE, visit_form(ALICE)))
    phone.page.wait_for_timeout(500)
    assert phone.page.input_value("textarea[name=note]") == ""
    phone.open(f"/visit/?try=2#outbox={VISIT} alice-refused", page_html(ALICE, visit_form(ALICE)))
    phone.page.wait_for_function("document.querySelector('textarea[name=note]').value !== ''")
    assert phone.page.input_value("textarea[name=note]") == "Alice's note"


def test_a_page_resends_only_its_own_users_forms(phone):
    """Alice's page, while the server already says Bob is signed in (another tab): Bob's
    waiting form is not sent from Alice's page; on Bob's own page it is."""
    phone.open("/start/", page_html(ALICE))
    seed(phone)
    phone.session = BOB
    phone.open("/alice/", page_html(ALICE))
    phone.page.evaluate("window.jiedaoTest.flushOutbox()")
    assert phone.posts == []
    phone.open("/bob/", page_html(BOB))
    phone.page.evaluate("window.jiedaoTest.flushOutbox()")
    assert [path for path, _body in phone.posts] == [VISIT]
    assert "Bob's waiting note" in phone.posts[0][1]

"""Browser tests: the real app (``run_demo``: gunicorn + worker) on a fresh demo world, driven
by Playwright in Debian's chromium.

Not pytest-django's live_server: its flush cannot empty the append-only audit table. The
server runs on its own SQLite file in a temporary JIEDAO_VAR_DIR, or, when DATABASE_URL points at
PostgreSQL, on a throw-away database that is dropped afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.helpers import SIZES, sign_in

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
]
DEMO_SCALE = "0.05"
START_TIMEOUT = 90


@dataclass(frozen=True)
class DemoServer:
    base_url: str
    env: dict[str, str]
    log: Path

    def manage(self, *args: str) -> str:
        return run_manage(self.env, *args)


def run_manage(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{completed.stderr[-3000:]}")
    return completed.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"run_demo exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"run_demo did not answer in {START_TIMEOUT}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """A fresh, empty database for the server: SQLite by default, PostgreSQL when asked."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path_factory.mktemp('e2e-db') / 'jiedao.sqlite3'}"
        return
    import psycopg

    name = f"{os.environ.get('JIEDAO_TEST_DB_NAME') or 'test_jiedao'}_e2e_{os.getpid()}"
    base, _, _ = url.rpartition("/")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory, database_url) -> Iterator[DemoServer]:
    var_dir = tmp_path_factory.mktemp("e2e-var")
    env = {
        **os.environ,
        "JIEDAO_VAR_DIR": str(var_dir),
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "jiedao.config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("JIEDAO_TESTING", None)
    run_manage(env, "migrate", "--noinput", "-v", "0")
    run_manage(env, "demo_world", "--scale", DEMO_SCALE, "-v", "0")
    port = free_port()
    log = var_dir / "run_demo.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "run_demo",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = DemoServer(f"http://127.0.0.1:{port}", env, log)
    try:
        wait_until_healthy(server.base_url, process, log)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)  # run_demo stops its worker and gunicorn
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def world_facts(demo_server) -> dict[str, str]:
    """Codes the permission checks need, read from the generated world."""
    script = (
        "import json\n"
        "from jiedao.core.scopes import unscoped\n"
        "from jiedao.accounts.models import User\n"
        "from jiedao.territory.models import Grid\n"
        "with unscoped():\n"
        "    own = User.objects.get(username='gridworker').grants.get().grid.code\n"
        "    other = Grid.all_objects.exclude(code=own).order_by('code').first().code\n"
        "print(json.dumps({'own_grid': own, 'other_grid': other}))\n"
    )
    return json.loads(demo_server.manage("shell", "-c", script).strip().splitlines()[-1])


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, and Django refuses ORM calls
    # (translations, settings are fine) from a thread with a running loop: allow them here only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def as_user(browser, demo_server):
    """Sign in as a demo user in a fresh context: ``as_user("street", size="phone")``. The
    page collects script errors in ``page.script_errors``."""
    contexts = []

    def open_page(username: str, size: str = "desktop", **options):
        phone = size == "phone"
        context = browser.new_context(
            viewport=SIZES[size], is_mobile=phone, has_touch=phone, locale="zh-CN", **options
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.script_errors = errors
        sign_in(page, demo_server.base_url, username)
        return page

    yield open_page
    for context in contexts:
        context.close()

"""The application under test: manage.py steps, the gunicorn server and a signed-in session."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
LOG = ROOT / "bench" / "results" / "gunicorn.log"  # server errors go here, not to the terminal


def app_env(database_url: str) -> dict[str, str]:
    """Environment for every app process: the scratch database, DEBUG off, quiet logs."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DEBUG="0",
        JIEDAO_ENV="development",
        LOG_LEVEL="WARNING",
        JIEDAO_VAR_DIR=env.get("JIEDAO_VAR_DIR", str(ROOT / "var")),
    )
    env.pop("REDIS_URL", None)  # the bench measures the embedded defaults
    return env


def manage(database_url: str, *args: str, timeout: int = 1800) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=app_env(database_url),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


@dataclass(frozen=True)
class Generation:
    seconds: float
    rows: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def parse_generation(output: str) -> Generation:
    """Read 'Demo world generated in 8.8 s (93,060 rows).', translated or not: the first line
    holds the seconds (with a decimal point) and then the row count."""
    match = re.search(r"(\d+\.\d+)\D+?(\d[\d,]*)", output)
    if not match:
        raise ValueError(f"demo_world printed no timing line: {output[:200]!r}")
    return Generation(float(match.group(1)), int(match.group(2).replace(",", "")))


def generate(database_url: str, scale: float, seed: int = 2026) -> tuple[Generation, float]:
    """Run demo_world; returns its own timing and the wall time of the whole process."""
    started = time.perf_counter()
    output = manage(database_url, "demo_world", "--seed", str(seed), "--scale", str(scale))
    return parse_generation(output), time.perf_counter() - started


def plain_insert_seconds(database_url: str, rows: int) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "bench.plain_insert", str(rows)],
        cwd=ROOT,
        env=app_env(database_url),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


class Server:
    """gunicorn on loopback in its own process group; stopped (only it) on exit."""

    def __init__(self, database_url: str, port: int, workers: int = 2) -> None:
        self.database_url, self.port, self.workers = database_url, port, workers
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Server:
        if _port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is in use: pass --port")
        args = [
            sys.executable, "-m", "gunicorn", "jiedao.config.wsgi:application",
            "--bind", f"{HOST}:{self.port}", "--workers", str(self.workers),
            "--log-level", "warning", "--timeout", "60",
        ]  # fmt: skip
        LOG.parent.mkdir(parents=True, exist_ok=True)
        with LOG.open("a") as log:
            log.write(f"--- gunicorn {self.base} {self.database_url}\n")
            log.flush()
            self.process = subprocess.Popen(
                args,
                cwd=ROOT,
                env=app_env(self.database_url),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            if status(f"{self.base}/ping") == 200:
                return
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not answer /ping within a minute")


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _loopback(url: str) -> str:
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"the benchmark only talks to loopback, not {url}")
    return url


def status(
    url: str, cookie: str = "", *, body: str | None = None, headers: dict[str, str] | None = None
) -> int:
    """The HTTP status of one GET (or a POST when ``body`` is given), without following
    redirects; 0 when the server did not answer."""
    headers = {**(headers or {}), **({"Cookie": cookie} if cookie else {})}
    data = body.encode() if body is not None else None
    request = urllib.request.Request(_loopback(url), data=data, headers=headers)  # noqa: S310
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def login(base: str, username: str, password: str) -> str | None:
    """Sign in through the login form like a browser; returns the sessionid, or None."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    try:
        with opener.open(_loopback(f"{base}/accounts/login/"), timeout=30) as response:
            page = response.read().decode("utf-8", "replace")
    except (urllib.error.HTTPError, OSError):
        return None
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if token is None:
        return None
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    )
    request = urllib.request.Request(  # noqa: S310
        _loopback(f"{base}/accounts/login/"),
        data=form.encode(),
        headers={"Referer": f"{base}/accounts/login/"},
    )
    try:
        opener.open(request, timeout=30).close()
    except urllib.error.HTTPError as exc:
        if exc.code not in (301, 302, 303):
            return None
    except OSError:
        return None
    return next((c.value for c in jar if c.name == "sessionid"), None)


MINT_SESSION = """
from django.test import Client
from jiedao.accounts.models import User
client = Client()
client.force_login(User.objects.get(username={username!r}))
print(client.cookies["sessionid"].value)
"""


def minted_session(database_url: str, username: str) -> str:
    """Fallback when the login page cannot be used: a real session made by Django itself."""
    output = manage(database_url, "shell", "-c", MINT_SESSION.format(username=username))
    return output.strip().splitlines()[-1]

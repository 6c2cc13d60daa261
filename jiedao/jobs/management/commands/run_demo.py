"""``manage.py run_demo``: serve the app with a background worker beside it, until Ctrl-C.

The worker (``run_worker``) runs as a child process and is restarted if it dies; the web server
is gunicorn. Both are stopped, gently then firmly, when this command is interrupted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from jiedao.demo.logins import login_table

STOP_TIMEOUT = 10


class Command(BaseCommand):
    help = "Serve the demo: gunicorn plus a background worker, with the demo sign-ins printed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--no-worker", action="store_true", help="serve without a task worker")

    def handle(
        self, *args: Any, host: str, port: int, workers: int, no_worker: bool, **options: Any
    ) -> None:
        # SIGTERM (a service manager, a test harness) stops the demo like Ctrl-C does.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        self.stdout.write(login_table())
        self.stdout.write("")
        self.stdout.write(
            _("Open http://%(host)s:%(port)s/ — press Ctrl-C to stop.")
            % {"host": host, "port": port}
        )
        worker = None if no_worker else _start_worker()
        server = _start_server(host, port, workers)
        try:
            while server.poll() is None:
                if worker is not None and worker.poll() is not None:
                    self.stderr.write(
                        _("The background worker stopped (exit %s); restarting it.")
                        % worker.returncode
                    )
                    time.sleep(2)
                    worker = _start_worker()
                time.sleep(1)
        except KeyboardInterrupt:
            self.stdout.write(_("Stopping…"))
        finally:
            _stop(worker)
            _stop(server)
        if server.returncode not in (0, -signal.SIGTERM, -signal.SIGINT):
            raise CommandError(_("The web server stopped (exit %s).") % server.returncode)


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _start_worker() -> subprocess.Popen:
    # DJANGO_SETTINGS_MODULE is inherited from manage.py's environment.
    return subprocess.Popen([sys.executable, "-m", "django", "run_worker"])


def _start_server(host: str, port: int, workers: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "jiedao.config.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--access-logfile",
        "-",
        "--graceful-timeout",
        str(STOP_TIMEOUT - 2),
    ]
    return subprocess.Popen(command)  # noqa: S603


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

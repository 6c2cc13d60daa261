"""``manage.py run_worker``: run background tasks and the periodic-job scheduler.

Database backend (default): one process runs django-tasks-db's worker loop plus heartbeat,
scheduler and recovery of tasks left RUNNING by dead workers. Start as many as you like.
RQ backend: run ``rq worker --with-scheduler`` for the tasks and ``run_worker --scheduler-only``
for the periodic jobs (one or more; slots are claimed in the database, never twice).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jiedao.jobs.selectors import uses_database_backend
from jiedao.jobs.worker import WorkerUnseen, new_worker_id, run_scheduler_only, run_worker


class Command(BaseCommand):
    help = "Run the background worker and the periodic-job scheduler."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue-name", default="*", help="Queues, comma-separated (* = all).")
        parser.add_argument("--interval", type=float, default=1.0, help="Idle poll seconds.")
        parser.add_argument(
            "--housekeeping-interval",
            type=float,
            default=10.0,
            help="Seconds between heartbeat, scheduler and recovery rounds.",
        )
        parser.add_argument("--max-tasks", type=int, default=None, help="Exit after N tasks.")
        parser.add_argument("--batch", action="store_true", help="Exit when the queue is empty.")
        parser.add_argument("--worker-id", default=None, help="Unique id (default: host-pid-rnd).")
        parser.add_argument("--no-scheduler", action="store_true", help="Run tasks only.")
        parser.add_argument(
            "--scheduler-only",
            action="store_true",
            help="Only enqueue periodic jobs (with RQ, whose workers run the tasks).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._configure_logging(options["verbosity"])
        worker_id = options["worker_id"] or new_worker_id()
        if len(worker_id) > 64:
            raise CommandError("--worker-id must be at most 64 characters")
        if options["scheduler_only"]:
            self._stop_on_sigterm()
            self.stdout.write(f"Scheduler {worker_id} started.")
            with contextlib.suppress(KeyboardInterrupt):
                run_scheduler_only(worker_id=worker_id, interval=options["housekeeping_interval"])
            return
        if not uses_database_backend():
            raise CommandError(
                "Tasks run on RQ here: start `rq worker --with-scheduler` (django-rq: "
                "`manage.py rqworker --with-scheduler`) and `run_worker --scheduler-only`."
            )
        self.stdout.write(f"Worker {worker_id} started.")
        try:
            run_worker(
                worker_id=worker_id,
                queue_names=options["queue_name"].split(","),
                interval=options["interval"],
                housekeeping_interval=options["housekeeping_interval"],
                max_tasks=options["max_tasks"],
                batch=options["batch"],
                schedule=not options["no_scheduler"],
            )
        except WorkerUnseen as exc:  # exit non-zero: the supervisor starts a fresh worker
            raise CommandError(str(exc)) from exc

    def _stop_on_sigterm(self) -> None:
        # SystemExit runs the finally blocks, which mark the heartbeat stopped.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))

    def _configure_logging(self, verbosity: int) -> None:
        level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
        # The root logger's console handler (settings.LOGGING) prints what these let through.
        for name in ("jiedao.jobs", "django_tasks", "django_tasks_db"):
            logging.getLogger(name).setLevel(level)

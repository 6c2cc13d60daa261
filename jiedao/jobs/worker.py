"""What ``run_worker`` runs: django-tasks-db's worker loop, and beside it a housekeeping thread
that beats the heartbeat, ticks the scheduler and recovers tasks of dead workers.

The housekeeping runs in its own thread so that the heartbeat goes on while a long task runs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.db import close_old_connections, connection
from django.utils.crypto import get_random_string
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS
from django_tasks_db.management.commands.db_worker import Worker

from jiedao.jobs.models import WorkerHeartbeat
from jiedao.jobs.recovery import beat, mark_stopped, recover_stale_tasks
from jiedao.jobs.scheduler import Scheduler

logger = logging.getLogger("jiedao.jobs")


def new_worker_id() -> str:
    """Readable in the admin, unique across hosts: ``host-pid-random``, at most 64 characters."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{get_random_string(8)}"


class Housekeeper:
    def __init__(
        self,
        worker_id: str,
        *,
        schedule: bool = True,
        recover: bool = True,
        interval: float = 10.0,
        kind: str = WorkerHeartbeat.Kind.WORKER,
    ) -> None:
        self.worker_id = worker_id
        self.schedule = schedule
        self.recover = recover
        self.interval = interval
        self.kind = kind
        self.scheduler = Scheduler(worker_id)
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        beat(self.worker_id, self.kind)
        if self.recover:
            recover_stale_tasks()
        if self.schedule:
            self.scheduler.tick()

    def run_forever(self) -> None:
        """Run until ``stop()``; a failing round is logged and tried again next time."""
        try:
            while not self.stop_event.is_set():
                close_old_connections()
                try:
                    self.run_once()
                except Exception:
                    logger.exception("housekeeping round failed; retrying in %ss", self.interval)
                self.stop_event.wait(self.interval)
        finally:
            connection.close()

    def start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self.run_forever, name="jobs-housekeeper", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
        mark_stopped(self.worker_id)


def run_worker(
    *,
    worker_id: str,
    queue_names: list[str],
    interval: float,
    housekeeping_interval: float,
    max_tasks: int | None = None,
    batch: bool = False,
    schedule: bool = True,
) -> None:
    """One housekeeping round first (tasks lost by a previous run come back), then work.

    A ``batch`` run (work what is ready, then exit) does that one round only; a long-lived
    worker keeps housekeeping in a thread.
    """
    housekeeper = Housekeeper(worker_id, schedule=schedule, interval=housekeeping_interval)
    housekeeper.run_once()
    if not batch:
        housekeeper.start_thread()
    worker = Worker(
        queue_names=queue_names,
        interval=interval,
        batch=batch,
        backend_name=DEFAULT_TASK_BACKEND_ALIAS,
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    worker.configure_signals()
    try:
        worker.run()
    finally:
        worker.reset_signals()
        housekeeper.stop()


def run_scheduler_only(*, worker_id: str, interval: float, rounds: int | None = None) -> None:
    """For RQ: the rq workers run the tasks, this process only enqueues periodic jobs."""
    housekeeper = Housekeeper(
        worker_id, recover=False, interval=interval, kind=WorkerHeartbeat.Kind.SCHEDULER
    )
    done = 0
    try:
        while rounds is None or done < rounds:
            close_old_connections()
            try:
                housekeeper.run_once()
            except Exception:
                logger.exception("scheduler round failed; retrying in %ss", interval)
            done += 1
            if rounds is None or done < rounds:
                time.sleep(interval)
    finally:
        mark_stopped(worker_id)

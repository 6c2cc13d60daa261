"""What ``run_worker`` runs: django-tasks-db's worker loop, and beside it a housekeeping thread
that beats the heartbeat, ticks the scheduler and recovers tasks of dead workers.

The housekeeping runs in its own thread so that the heartbeat goes on while a long task runs.
A worker that cannot beat for half the stale threshold stops claiming tasks and exits (with an
error, for its supervisor to restart it) before other workers can judge it dead.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, TaskResultStatus
from django_tasks_db.compat import TaskContext, task_finished, task_started
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import retry

from jiedao.jobs.models import WorkerHeartbeat
from jiedao.jobs.recovery import (
    beat,
    mark_stopped,
    recover_stale_tasks,
    stale_after,
    still_claimed,
)
from jiedao.jobs.retry import failed_attempt_fields
from jiedao.jobs.scheduler import Scheduler

logger = logging.getLogger("jiedao.jobs")


class WorkerUnseen(RuntimeError):
    """The worker stopped because it could not write its heartbeat."""


def new_worker_id() -> str:
    """Readable in the admin, unique across hosts: ``host-pid-random``, at most 64 characters."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{get_random_string(8)}"


class JobWorker(Worker):
    """django-tasks-db's worker, except for how an attempt's outcome is written.

    The outcome is written only while this worker still owns the row (see ``still_claimed``):
    if recovery handed the row on while the task ran, the late outcome is logged and dropped.
    A failed ``@job`` attempt with attempts left goes back to READY in that same write.
    """

    unseen = False

    def stop_claiming(self) -> None:
        """The heartbeat is failing: finish the running task, claim no more, then exit."""
        self.unseen = True
        self.running = False

    def run_task(self, db_task_result: DBTaskResult) -> None:
        self.running_task = True
        try:
            self._attempt(db_task_result)
        finally:
            self.running_task = False
            self._run_tasks += 1

    def _attempt(self, row: DBTaskResult) -> None:
        try:
            owned = self._finish(row, _success_fields(self._call(row)))
        except BaseException as exc:  # as django-tasks-db: even an aborted attempt is recorded
            fields = failed_attempt_fields(row, exc)
            if not self._finish(row, fields):
                return
            if fields["status"] == TaskResultStatus.READY:
                logger.warning(
                    "task %s attempt %s failed; retry at %s",
                    row.pk,
                    len(row.worker_ids),
                    fields["run_after"],
                    exc_info=True,
                )
                return
            self._send_finished(row)  # inside except: the log of task_finished gets the traceback
            return
        if owned:
            self._send_finished(row)

    def _call(self, row: DBTaskResult) -> Any:
        task = row.task
        task_result = row.task_result
        task_started.send(sender=type(task.get_backend()), task_result=task_result)
        args = task_result.args
        if task.takes_context:
            args = [TaskContext(task_result=task_result), *args]
        return task.call(*args, **task_result.kwargs)

    def _finish(self, row: DBTaskResult, fields: dict[str, Any]) -> bool:
        if not _update_if_claimed(row, fields):
            logger.warning(
                "task %s was put back while worker %s ran it; its late outcome (%s) is dropped",
                row.pk,
                self.worker_id,
                fields["status"],
            )
            return False
        for name, value in fields.items():
            setattr(row, name, value)
        return True

    def _send_finished(self, row: DBTaskResult) -> None:
        try:
            sender = type(row.task.get_backend())
            task_result = row.task_result
        except (ImportError, SuspiciousOperation):
            logger.exception("task %s failed and its task cannot be loaded", row.pk)
            return
        task_finished.send(sender=sender, task_result=task_result)


def _success_fields(return_value: Any) -> dict[str, Any]:
    return {
        "status": TaskResultStatus.SUCCESSFUL,
        "return_value": return_value,
        "finished_at": timezone.now(),
        "exception_class_path": "",
        "traceback": "",
    }


@retry()  # as django-tasks-db's set_successful/set_failed: SQLite may be locked for a moment
def _update_if_claimed(row: DBTaskResult, fields: dict[str, Any]) -> bool:
    return still_claimed(row).update(**fields) == 1


class Housekeeper:
    def __init__(
        self,
        worker_id: str,
        *,
        schedule: bool = True,
        recover: bool = True,
        interval: float = 10.0,
        kind: str = WorkerHeartbeat.Kind.WORKER,
        on_unseen: Callable[[], None] | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.schedule = schedule
        self.recover = recover
        self.interval = interval
        self.kind = kind
        self.on_unseen = on_unseen
        self.scheduler = Scheduler(worker_id)
        self.stop_event = threading.Event()
        self.last_beat = time.monotonic()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        beat(self.worker_id, self.kind)
        self.last_beat = time.monotonic()
        if self.recover:
            recover_stale_tasks()
        if self.schedule:
            self.scheduler.tick()

    def run_round(self) -> None:
        """One round that never raises: a failure is logged and tried again next round."""
        try:
            close_old_connections()
            self.run_once()
        except Exception:
            logger.exception("housekeeping round failed; retrying in %ss", self.interval)
        if self.on_unseen is not None and self.unseen_for() > stale_after().total_seconds() / 2:
            # Soon other workers would judge this one dead and run its tasks again.
            logger.error("worker %s cannot beat its heartbeat: it stops claiming", self.worker_id)
            self.on_unseen()

    def unseen_for(self) -> float:
        """Seconds since the last heartbeat that reached the database."""
        return time.monotonic() - self.last_beat

    def run_forever(self) -> None:
        """A round every ``interval`` until ``stop()``; the first after one interval, since
        ``run_worker`` has just done one."""
        while not self.stop_event.wait(self.interval):
            self.run_round()

    def start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._run_thread, name="jobs-housekeeper", daemon=True
        )
        self._thread.start()

    def _run_thread(self) -> None:
        try:
            self.run_forever()
        finally:
            connection.close()  # the thread's own connection

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
    """One housekeeping round first (tasks lost by a previous run come back), then work, with
    housekeeping going on in a thread (a ``batch`` run too: its tasks may be long). Raises
    ``WorkerUnseen`` when it stopped because its heartbeat failed.
    """
    worker = JobWorker(
        queue_names=queue_names,
        interval=interval,
        batch=batch,
        backend_name=DEFAULT_TASK_BACKEND_ALIAS,
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    housekeeper = Housekeeper(
        worker_id,
        schedule=schedule,
        interval=housekeeping_interval,
        on_unseen=worker.stop_claiming,
    )
    housekeeper.run_once()
    housekeeper.start_thread()
    worker.configure_signals()
    try:
        worker.run()
    finally:
        worker.reset_signals()
        housekeeper.stop()
    if worker.unseen:
        raise WorkerUnseen(f"worker {worker_id} stopped: it could not write its heartbeat")


def run_scheduler_only(*, worker_id: str, interval: float, rounds: int | None = None) -> None:
    """For RQ: the rq workers run the tasks, this process only enqueues periodic jobs."""
    housekeeper = Housekeeper(
        worker_id, recover=False, interval=interval, kind=WorkerHeartbeat.Kind.SCHEDULER
    )
    done = 0
    try:
        while rounds is None or done < rounds:
            housekeeper.run_round()
            done += 1
            if rounds is None or done < rounds:
                time.sleep(interval)
    finally:
        mark_stopped(worker_id)

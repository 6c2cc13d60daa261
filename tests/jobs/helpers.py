"""Shared helpers of the jobs tests."""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

from jiedao.jobs.worker import JobWorker


@contextmanager
def keep_test_connection():
    """The worker loop calls close_old_connections() like a request would; inside a test's
    transaction on PostgreSQL that closes the connection, so make it a no-op here."""
    with (
        mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"),
        mock.patch("jiedao.jobs.worker.close_old_connections"),
    ):
        yield


def run_worker_loop(worker_id: str = "test-worker", max_tasks: int = 20) -> None:
    """run_worker's worker loop, synchronously: until no task is ready or max_tasks ran."""
    worker = JobWorker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    with keep_test_connection():
        worker.run()

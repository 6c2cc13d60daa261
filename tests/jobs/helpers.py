"""Shared helpers of the jobs tests."""

from __future__ import annotations

from django_tasks_db.management.commands.db_worker import Worker


def run_worker_loop(worker_id: str = "test-worker", max_tasks: int = 20) -> None:
    """django-tasks-db's worker loop, synchronously: until no task is ready or max_tasks ran."""
    Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id=worker_id,
        excluded_queue_names=[],
    ).run()

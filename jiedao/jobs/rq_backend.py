"""django-tasks-rq's backend, plus RQ's native ``Retry`` for ``@job`` tasks.

Identical to ``django_tasks_rq.backend.RQBackend.enqueue`` except for the ``retry=`` argument:
RQ then re-queues a failed attempt after the job's backoff (``rq worker --with-scheduler`` is
needed for the delayed re-queue) and leaves it in the failed registry when attempts run out.
"""

from __future__ import annotations

from typing import Any

import django_rq
from django_tasks.base import TASK_MAX_PRIORITY, Task, TaskResult, TaskResultStatus
from django_tasks.signals import task_enqueued
from django_tasks.utils import get_random_id
from django_tasks_rq.backend import Job, failed_callback, success_callback
from django_tasks_rq.backend import RQBackend as BaseRQBackend
from rq.job import Callback, JobStatus, Retry

from jiedao.jobs.base import RetryingTask


def rq_retry(task: Task) -> Retry | None:
    if not isinstance(task, RetryingTask) or task.max_attempts < 2:
        return None
    return Retry(max=task.max_attempts - 1, interval=task.retry_intervals())


class RQBackend(BaseRQBackend):
    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        task_result: TaskResult = TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        queue = django_rq.get_queue(task.queue_name, job_class=Job)
        job = queue.create_job(
            task.module_path,
            args=args,
            kwargs=kwargs,
            job_id=task_result.id,
            status=JobStatus.SCHEDULED if task.run_after else JobStatus.QUEUED,
            on_failure=Callback(failed_callback),
            on_success=Callback(success_callback),
            meta={"backend_name": self.alias},
            retry=rq_retry(task),
        )
        if task.run_after is None:
            job = queue.enqueue_job(job, at_front=task.priority == TASK_MAX_PRIORITY)
        else:
            job = queue.schedule_job(job, task.run_after)
        object.__setattr__(task_result, "enqueued_at", job.enqueued_at)
        task_enqueued.send(type(self), task_result=task_result)
        return task_result

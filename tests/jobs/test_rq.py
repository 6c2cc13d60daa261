"""On RQ (production), a @job retries through RQ's own Retry; the scheduler enqueues to RQ.

Needs a Redis on 127.0.0.1:6379 (databases 15 and below, one per xdist worker, are emptied);
skipped without one.
"""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
import redis
from django_tasks import TaskResultStatus
from django_tasks_rq.backend import Job
from rq import SimpleWorker

from jiedao.jobs.base import periodic
from jiedao.jobs.models import PeriodicRun
from jiedao.jobs.scheduler import Scheduler
from tests.jobs import sample_tasks


@pytest.fixture
def rq_tasks(settings, worker_id):
    number = 15 if worker_id == "master" else 14 - int(worker_id.removeprefix("gw"))
    redis_url = f"redis://127.0.0.1:6379/{number}"
    connection = redis.Redis.from_url(redis_url, socket_timeout=1)
    try:
        connection.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    connection.flushdb()
    settings.RQ_QUEUES = {"default": {"URL": redis_url}}
    settings.TASKS = {
        "default": {"BACKEND": "jiedao.jobs.rq_backend.RQBackend", "QUEUES": ["default"]}
    }
    yield
    connection.flushdb()


def queued_ids() -> list[str]:
    return django_rq.get_queue("default", job_class=Job).job_ids


def work_burst() -> None:
    queue = django_rq.get_queue("default", job_class=Job)
    SimpleWorker([queue], connection=queue.connection, job_class=Job).work(burst=True)


def test_rq_retries_a_failing_job_until_max_attempts(rq_tasks):
    result = sample_tasks.always_fails.enqueue()  # backoff 0: RQ re-queues at once
    work_burst()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class_path == "tests.jobs.sample_tasks.Boom"
    job = Job.fetch(result.id, connection=django_rq.get_connection())
    assert job.retries_left == 0  # two retries used: three attempts in all


@pytest.mark.django_db
def test_scheduler_only_enqueues_periodic_jobs_to_rq(
    rq_tasks, registry, django_capture_on_commit_callbacks
):
    periodic(every=timedelta(hours=1), name="test.rq")(sample_tasks.succeeds)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        (run,) = Scheduler("rq-scheduler").tick()
        assert queued_ids() == []  # Redis hears of the slot only once the claim is committed
    assert len(callbacks) == 1
    assert queued_ids() == [run.task_result_id]
    assert Scheduler("second-rq-scheduler").tick() == []
    work_burst()

    result = sample_tasks.succeeds.get_result(run.task_result_id)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert PeriodicRun.objects.get(name="test.rq").task_result_id == result.id

"""@job: failed attempts are re-enqueued with backoff until max_attempts, then stay FAILED."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.signals import task_finished
from django_tasks_db.models import DBTaskResult

from jiedao.jobs.base import RetryingTask, job
from tests.jobs import sample_tasks
from tests.jobs.helpers import run_worker_loop

pytestmark = pytest.mark.django_db


def reload(result) -> DBTaskResult:
    return DBTaskResult.objects.get(id=result.id)


def test_job_is_a_django_task_with_retry_settings():
    assert isinstance(sample_tasks.always_fails, RetryingTask)
    assert sample_tasks.always_fails.max_attempts == 3
    assert sample_tasks.always_fails.module_path == "tests.jobs.sample_tasks.always_fails"


def test_backoff_doubles_after_each_failure():
    task = job(max_attempts=4, backoff_seconds=10)(sample_tasks.succeeds.func)
    assert [task.retry_delay(n).total_seconds() for n in (1, 2, 3)] == [10, 20, 40]
    assert task.retry_intervals() == [10, 20, 40]


def test_failing_job_is_retried_until_max_attempts_then_stays_failed():
    result = sample_tasks.always_fails.enqueue()

    run_worker_loop(max_tasks=10)

    row = reload(result)
    assert row.status == TaskResultStatus.FAILED
    assert len(row.worker_ids) == 3  # one entry per attempt
    assert row.exception_class_path == "tests.jobs.sample_tasks.Boom"
    assert "always" in row.traceback
    assert result.task.get_result(result.id).attempts == 3


def test_failed_attempt_waits_for_its_backoff_then_succeeds():
    result = sample_tasks.fails_first_time.enqueue()
    before = timezone.now()

    run_worker_loop(max_tasks=10)

    row = reload(result)
    assert row.status == TaskResultStatus.READY  # waiting for the retry, not FAILED
    assert row.run_after >= before + timedelta(seconds=29)
    assert "attempt 1" in row.traceback  # the last error stays visible while it waits
    assert not DBTaskResult.objects.ready().filter(id=result.id).exists()

    DBTaskResult.objects.filter(id=result.id).update(run_after=timezone.now())  # time passes
    run_worker_loop(max_tasks=10)

    row = reload(result)
    assert row.status == TaskResultStatus.SUCCESSFUL
    assert row.return_value == 2
    assert row.traceback == ""
    assert len(row.worker_ids) == 2


def test_plain_task_is_not_retried():
    result = sample_tasks.plain_fails.enqueue()
    run_worker_loop(max_tasks=10)
    row = reload(result)
    assert row.status == TaskResultStatus.FAILED
    assert len(row.worker_ids) == 1


def test_successful_job_runs_once():
    result = sample_tasks.succeeds.enqueue(21)
    run_worker_loop(max_tasks=10)
    row = reload(result)
    assert (row.status, row.return_value, len(row.worker_ids)) == ("SUCCESSFUL", 42, 1)


def test_worker_dying_right_after_a_failed_attempt_loses_no_retry():
    """The failed attempt and its retry are one write: nothing is left for a receiver to do."""
    result = sample_tasks.fails_first_time.enqueue()

    with (
        mock.patch.object(task_finished, "send", side_effect=KeyboardInterrupt("killed")),
        contextlib.suppress(KeyboardInterrupt),
    ):
        run_worker_loop(max_tasks=1)

    row = reload(result)
    assert row.status == TaskResultStatus.READY
    assert row.run_after > timezone.now() + timedelta(seconds=20)
    assert "attempt 1" in row.traceback
    assert len(row.worker_ids) == 1

"""Periodic jobs: one run per slot however many schedulers, one catch-up run after downtime."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task_backends
from django_tasks_db.models import DBTaskResult

from jiedao.jobs.base import PERIODIC_JOBS as REAL_REGISTRY
from jiedao.jobs.base import periodic
from jiedao.jobs.models import PeriodicRun
from jiedao.jobs.scheduler import Scheduler, claim_slot, slot_start
from jiedao.jobs.worker import run_scheduler_only
from tests.jobs import sample_tasks
from tests.jobs.helpers import keep_test_connection, run_worker_loop

HOUR = timedelta(hours=1)


def local(*args: int) -> datetime:
    return timezone.make_aware(datetime(*args), timezone.get_default_timezone())


@pytest.fixture
def hourly(registry):
    periodic(every=HOUR, name="test.hourly")(sample_tasks.succeeds)
    return registry["test.hourly"]


def test_builtin_cleanup_job_is_registered():
    assert "jobs.heartbeat_cleanup" in REAL_REGISTRY


def test_slots_are_aligned_to_local_time():
    assert slot_start(local(2026, 3, 5, 10, 37), HOUR) == local(2026, 3, 5, 10)
    assert slot_start(local(2026, 3, 5, 10, 37), timedelta(days=1)) == local(2026, 3, 5)
    assert slot_start(local(2026, 3, 5, 10, 0), HOUR) == local(2026, 3, 5, 10)


def test_periodic_rejects_sub_minute_intervals(registry):
    with pytest.raises(ImproperlyConfigured):
        periodic(every=timedelta(seconds=10))(sample_tasks.succeeds)


@pytest.mark.django_db
def test_two_schedulers_claim_a_slot_once(hourly):
    now = local(2026, 3, 5, 10, 37)

    first = Scheduler("scheduler-a").tick(now)
    second = Scheduler("scheduler-b").tick(now)
    again_later_in_slot = Scheduler("scheduler-a").tick(now + timedelta(minutes=20))

    assert [run.claimed_by for run in first] == ["scheduler-a"]
    assert second == [] and again_later_in_slot == []
    assert PeriodicRun.objects.filter(name="test.hourly").count() == 1
    assert DBTaskResult.objects.filter(task_path=hourly.task_path).count() == 1


@pytest.mark.django_db
def test_next_slot_is_claimed_and_the_enqueued_task_runs(hourly):
    Scheduler("a").tick(local(2026, 3, 5, 10, 5))
    Scheduler("b").tick(local(2026, 3, 5, 11, 5))
    run_worker_loop()

    runs = PeriodicRun.objects.filter(name="test.hourly").order_by("slot_start")
    assert [run.slot_start for run in runs] == [local(2026, 3, 5, 10), local(2026, 3, 5, 11)]
    results = DBTaskResult.objects.filter(id__in=[run.task_result_id for run in runs])
    assert {row.status for row in results} == {TaskResultStatus.SUCCESSFUL}


@pytest.mark.django_db
def test_catch_up_after_downtime_enqueues_once(hourly):
    Scheduler("a").tick(local(2026, 3, 5, 10, 5))
    # The worker was down from 10:30 until 15:20: slots 11, 12, 13 and 14 passed unrun.
    restart = local(2026, 3, 5, 15, 20)

    caught_up = Scheduler("a-restarted").tick(restart)
    Scheduler("a-restarted").tick(restart + timedelta(seconds=10))

    assert len(caught_up) == 1
    assert caught_up[0].slot_start == local(2026, 3, 5, 15)
    assert caught_up[0].missed_slots == 4
    assert PeriodicRun.objects.filter(name="test.hourly").count() == 2
    assert DBTaskResult.objects.filter(task_path=hourly.task_path).count() == 2


@pytest.fixture
def dummy_tasks(settings):
    """A backend outside the database, as RQ is, that remembers what was enqueued."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    return task_backends["default"]


@pytest.mark.django_db
def test_other_backends_are_enqueued_once_the_claim_commits(
    hourly, dummy_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        run = claim_slot(hourly, local(2026, 3, 5, 10, 37), "a")
    assert run is not None and dummy_tasks.results == []

    (enqueue_after_commit,) = callbacks
    enqueue_after_commit()

    assert [str(result.id) for result in dummy_tasks.results] == [run.task_result_id]
    assert PeriodicRun.objects.get(pk=run.pk).task_result_id == run.task_result_id


@pytest.mark.django_db
def test_a_claim_that_fails_to_commit_enqueues_nothing(
    hourly, dummy_tasks, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        claim_slot(hourly, local(2026, 3, 5, 10, 37), "a")
        raise RuntimeError("the commit fails")
    assert callbacks == [] and dummy_tasks.results == []
    assert not PeriodicRun.objects.exists()


@pytest.mark.django_db
def test_a_claim_never_enqueued_is_enqueued_once_after_the_grace(hourly, dummy_tasks):
    now = local(2026, 3, 5, 10, 37)
    # Claimed and committed, then the scheduler died before its enqueue after commit.
    run = PeriodicRun.objects.create(
        name="test.hourly", slot_start=slot_start(now, HOUR), claimed_by="crashed"
    )
    assert Scheduler("b").tick(now) == []  # within the grace the claimer may still enqueue

    PeriodicRun.objects.filter(pk=run.pk).update(claimed_at=timezone.now() - timedelta(minutes=2))
    (retaken,) = Scheduler("b").tick(now)
    assert Scheduler("c").tick(now) == []

    assert retaken.claimed_by == "b"
    assert [str(result.id) for result in dummy_tasks.results] == [retaken.task_result_id]
    assert PeriodicRun.objects.get(pk=run.pk).task_result_id == retaken.task_result_id


@pytest.mark.django_db
def test_scheduler_only_loop_claims_slots(hourly):
    with keep_test_connection():
        run_scheduler_only(worker_id="rq-scheduler", interval=0, rounds=2)
    assert PeriodicRun.objects.filter(name="test.hourly", claimed_by="rq-scheduler").count() == 1


def in_own_connection(work, *args):
    """Run ``work`` in a thread: its own connection, autocommitted, unlike the test's."""
    from django.db import connection as thread_connection

    try:
        return work(*args)
    finally:
        thread_connection.close()


@pytest.mark.django_db
def test_concurrent_schedulers_claim_a_slot_once(hourly):
    """Two scheduler threads, each with its own connection, race to insert the same slot row.

    PostgreSQL only: the threads commit for real (the test's transaction sees their rows under
    READ COMMITTED) and clean up after themselves. SQLite's in-memory test database has no
    waiting writers to race.
    """
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    now = local(2026, 3, 5, 10, 37)
    barrier = threading.Barrier(2)
    claimed: list[object] = []

    def race(name: str) -> None:
        barrier.wait()
        claimed.append(claim_slot(hourly, now, name))

    def clean_up() -> None:
        runs = PeriodicRun.objects.filter(name="test.hourly")
        DBTaskResult.objects.filter(id__in=[run.task_result_id for run in runs]).delete()
        runs.delete()

    threads = [threading.Thread(target=in_own_connection, args=(race, n)) for n in "xy"]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(run is not None for run in claimed) == 1
        assert PeriodicRun.objects.filter(name="test.hourly").count() == 1
        assert DBTaskResult.objects.filter(task_path=hourly.task_path).count() == 1
    finally:
        cleaner = threading.Thread(target=in_own_connection, args=(clean_up,))
        cleaner.start()
        cleaner.join()


def test_every_is_shown_in_words(registry):
    from django.utils import translation

    periodic(every=timedelta(hours=6), name="test.six_hours")(sample_tasks.succeeds)
    periodic(every=timedelta(days=1), name="test.daily")(sample_tasks.succeeds)
    periodic(every=timedelta(minutes=90), name="test.ninety")(sample_tasks.succeeds)
    with translation.override("en"):
        labels = {name: job.every_label for name, job in registry.items()}
    assert labels == {
        "test.six_hours": "every 6 hours",
        "test.daily": "every 1 day",
        "test.ninety": "every 90 minutes",
    }

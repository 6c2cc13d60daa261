"""run_worker's worker: an outcome is written only while the worker still owns the row, and a
worker whose heartbeat fails keeps housekeeping but stops claiming tasks."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from jiedao.jobs.models import WorkerHeartbeat
from jiedao.jobs.worker import Housekeeper
from tests.jobs import sample_tasks
from tests.jobs.helpers import keep_test_connection, run_worker_loop

pytestmark = pytest.mark.django_db


def test_late_success_does_not_overwrite_a_row_recovery_put_back(caplog):
    result = sample_tasks.outlived_by_recovery.enqueue(reclaimed=False, fail=False)

    run_worker_loop("first-worker", max_tasks=1)

    row = DBTaskResult.objects.get(id=result.id)
    assert (row.status, row.return_value) == (TaskResultStatus.READY, None)
    assert row.worker_ids == ["first-worker"]
    assert "late outcome (SUCCESSFUL) is dropped" in caplog.text


def test_late_failure_does_not_overwrite_a_row_another_worker_claimed():
    result = sample_tasks.outlived_by_recovery.enqueue(reclaimed=True, fail=True)

    run_worker_loop("first-worker", max_tasks=1)

    row = DBTaskResult.objects.get(id=result.id)
    assert row.status == TaskResultStatus.RUNNING  # the second worker's attempt, untouched
    assert row.worker_ids == ["first-worker", "second-worker"]
    assert (row.exception_class_path, row.traceback) == ("", "")


def test_heartbeat_thread_survives_a_failing_round():
    housekeeper = Housekeeper("steady", schedule=False, interval=0)
    rounds: list[int] = []

    def flaky_close_old_connections() -> None:
        rounds.append(len(rounds) + 1)
        if len(rounds) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        housekeeper.stop_event.set()  # end after the second round

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("jiedao.jobs.worker.close_old_connections", flaky_close_old_connections)
        housekeeper.run_forever()

    assert rounds == [1, 2]
    assert WorkerHeartbeat.objects.filter(worker_id="steady").exists()  # beat on round 2


def test_worker_that_cannot_beat_for_half_the_stale_time_stops_claiming(settings, monkeypatch):
    settings.JIEDAO_WORKER_STALE_SECONDS = 90
    stopped: list[bool] = []
    housekeeper = Housekeeper(
        "cut-off", schedule=False, recover=False, on_unseen=lambda: stopped.append(True)
    )

    def no_database(*args: object) -> None:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("jiedao.jobs.worker.beat", no_database)
    with keep_test_connection():
        housekeeper.run_round()
        assert stopped == []  # one missed beat is no reason yet
        housekeeper.last_beat -= 46  # no beat for 46 s: over half of the 90 s threshold
        housekeeper.run_round()
    assert stopped == [True]


def test_run_worker_that_cannot_beat_claims_nothing_and_exits_with_an_error(monkeypatch):
    result = sample_tasks.doubles.enqueue()
    # The housekeeping thread finds at once that the heartbeat cannot be written.
    monkeypatch.setattr(Housekeeper, "start_thread", lambda self: self.on_unseen())

    with keep_test_connection(), pytest.raises(CommandError, match="heartbeat"):
        call_command("run_worker", "--no-scheduler", "--worker-id", "unseen", verbosity=0)

    assert DBTaskResult.objects.get(id=result.id).status == TaskResultStatus.READY
    assert WorkerHeartbeat.objects.get(worker_id="unseen").stopped_at is not None


def test_batch_run_keeps_beating_while_it_works(monkeypatch):
    """A batch run's tasks may be long too: without beats they would be run again elsewhere."""
    started: list[str] = []
    monkeypatch.setattr(Housekeeper, "start_thread", lambda self: started.append(self.worker_id))
    with keep_test_connection():
        call_command("run_worker", "--batch", "--no-scheduler", "--worker-id", "cron", verbosity=0)
    assert started == ["cron"]

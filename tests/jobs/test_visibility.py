"""Administrators see failed tasks, periodic jobs with their last run, and workers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from jiedao.jobs.models import PeriodicRun, WorkerHeartbeat
from jiedao.jobs.recovery import beat
from jiedao.jobs.scheduler import Scheduler
from jiedao.jobs.tasks import heartbeat_cleanup
from tests.jobs import sample_tasks
from tests.jobs.helpers import run_worker_loop

pytestmark = pytest.mark.django_db


def test_failed_job_is_listed_in_the_task_results_admin(admin_client):
    result = sample_tasks.always_fails.enqueue()
    run_worker_loop()

    url = reverse("admin:django_tasks_database_dbtaskresult_changelist")
    page = admin_client.get(url, {"status__exact": "FAILED"})
    assert page.status_code == 200
    assert str(result.id) in page.content.decode()

    detail = admin_client.get(
        reverse("admin:django_tasks_database_dbtaskresult_change", args=[result.id])
    )
    assert detail.status_code == 200
    assert "Boom" in detail.content.decode()


def test_periodic_jobs_page_shows_last_run_and_failures(admin_client):
    Scheduler("admin-test").tick()  # the real registry: jobs.heartbeat_cleanup
    run_worker_loop()
    sample_tasks.always_fails.enqueue()
    run_worker_loop()
    beat("worker-on-duty")

    page = admin_client.get(reverse("admin:jobs_periodicrun_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "jobs.heartbeat_cleanup" in html
    assert 'id="periodic-jobs"' in html
    rows = {row.job.name: row for row in page.context["periodic_rows"]}
    cleanup = rows["jobs.heartbeat_cleanup"]
    assert cleanup.last_run is not None
    assert cleanup.last_status == "Successful" or cleanup.last_status == "成功"
    assert page.context["failed_total"] == 1
    assert [w.worker_id for w in page.context["live_workers"]] == ["worker-on-duty"]
    assert admin_client.get(reverse("admin:jobs_workerheartbeat_changelist")).status_code == 200


def test_periodic_jobs_page_is_for_administrators_only(client, django_user_model):
    user = django_user_model.objects.create_user("clerk", password="not-an-admin-42")
    client.force_login(user)
    page = client.get(reverse("admin:jobs_periodicrun_changelist"))
    assert page.status_code == 302  # to the admin login


def test_heartbeat_cleanup_prunes_old_results_and_workers():
    old = sample_tasks.succeeds.enqueue()
    recent = sample_tasks.succeeds.enqueue()
    run_worker_loop()
    DBTaskResult.objects.filter(id=old.id).update(finished_at=timezone.now() - timedelta(days=30))
    beat("long-gone")
    WorkerHeartbeat.objects.filter(worker_id="long-gone").update(
        last_seen_at=timezone.now() - timedelta(days=8)
    )
    PeriodicRun.objects.create(
        name="x", slot_start=timezone.now() - timedelta(days=200), claimed_by="long-gone"
    )

    outcome = heartbeat_cleanup.call()

    assert outcome == {"workers": 1, "periodic_runs": 1}
    remaining = set(DBTaskResult.objects.values_list("id", flat=True))
    assert {str(i) for i in remaining} == {str(recent.id)}


def test_workers_page_judges_liveness_by_the_database_clock(admin_client):
    beat("fresh")
    beat("silent")
    WorkerHeartbeat.objects.filter(worker_id="silent").update(
        last_seen_at=timezone.now() - timedelta(minutes=10)
    )
    page = admin_client.get(reverse("admin:jobs_workerheartbeat_changelist"))
    alive = {row.worker_id: row.is_alive for row in page.context["cl"].result_list}
    assert alive == {"fresh": True, "silent": False}

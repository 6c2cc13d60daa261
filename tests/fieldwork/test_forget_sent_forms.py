"""Form keys are remembered for JIEDAO_SENT_FORM_DAYS, then forgotten by a daily job."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from jiedao.fieldwork import tasks
from jiedao.fieldwork.models import SentForm
from jiedao.jobs.base import periodic_jobs
from tests import factories as f


def test_keys_older_than_the_setting_are_forgotten(db, settings):
    settings.JIEDAO_SENT_FORM_DAYS = 30
    user = f.UserFactory()
    now = timezone.now()
    for days, key in ((31, "old-key-0001"), (29, "new-key-0001")):
        SentForm.objects.create(
            user=user, key=key, kind="visit", object_id=1, created_at=now - timedelta(days=days)
        )
    assert tasks.forget_sent_forms_before(now) == 1
    assert list(SentForm.objects.values_list("key", flat=True)) == ["new-key-0001"]


def test_the_job_runs_daily():
    assert "fieldwork.forget_sent_forms" in {p.name for p in periodic_jobs()}

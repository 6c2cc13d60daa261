"""Background jobs of field work (discovered by jiedao.jobs)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from jiedao.fieldwork.models import SentForm
from jiedao.jobs.base import job, periodic


@periodic(every=timedelta(days=1), name="fieldwork.forget_sent_forms")
@job(max_attempts=1)  # tomorrow's run is the retry
def forget_sent_forms() -> int:
    return forget_sent_forms_before()


def forget_sent_forms_before(now: datetime | None = None) -> int:
    """Forget the keys of forms sent more than JIEDAO_SENT_FORM_DAYS ago (180 by default). A
    phone resends a kept form within hours or days; only one kept longer than that could count
    twice."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.JIEDAO_SENT_FORM_DAYS)
    deleted, _ = SentForm.objects.filter(created_at__lt=cutoff).delete()
    return deleted

"""Import jobs (dry run, import) run in the background.

Both are safe to run twice (docs/operations.md): the dry run starts afresh, the import resumes
from its checkpoint and skips rows it already wrote (their digest is unchanged). A second run
of the same job supersedes the first, which stops at its next chunk.

``cancel_abandoned`` runs daily: a job left before its end (uploaded, checked, failed) for
``IMPORT_ABANDONED_AFTER`` is cancelled and its file, which holds identity numbers in clear,
deleted."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from jiedao.accounts.models import User
from jiedao.audit.services import log_action
from jiedao.core.scopes import unscoped
from jiedao.jobs.base import job, periodic
from jiedao.registry import importing
from jiedao.registry.models import ImportJob


def _language(language: str) -> str:
    return language or settings.LANGUAGE_CODE


@job(max_attempts=3, backoff_seconds=30)
def check_import(job_id: int, language: str = "") -> None:
    """The dry run of one job; problems are written in the language of whoever started it."""
    with unscoped(), translation.override(_language(language)):
        found = ImportJob.all_objects.filter(pk=job_id).first()
        if found is not None:
            importing.check(found)


@job(max_attempts=3, backoff_seconds=30)
def import_file(job_id: int, actor_id: int | None = None, language: str = "") -> None:
    """The import of one confirmed job, from its checkpoint."""
    with unscoped(), translation.override(_language(language)):
        found = ImportJob.all_objects.filter(pk=job_id).first()
        if found is None:
            return
        actor = User.objects.filter(pk=actor_id).first() if actor_id else None
        importing.run_import(found, actor=actor)


logger = logging.getLogger("jiedao.registry")

# ImportJob has no "last touched" time: the age counts from the upload (created_at).
IMPORT_ABANDONED_AFTER = timedelta(days=7)
# Not IMPORTING: an import confirmed late may be running now; a stuck one needs a person.
ABANDONABLE = (
    ImportJob.State.UPLOADED,
    ImportJob.State.CHECKING,
    ImportJob.State.CHECKED,
    ImportJob.State.FAILED,
)


@periodic(every=timedelta(days=1), name="registry.cancel_abandoned_imports")
@job(max_attempts=1)  # tomorrow's run is the retry
def cancel_abandoned() -> int:
    return cancel_abandoned_imports()


def cancel_abandoned_imports(now: datetime | None = None) -> int:
    """Cancel the jobs uploaded more than ``IMPORT_ABANDONED_AFTER`` before ``now`` and not
    finished, delete their files; one audit entry each (actor "system"). Returns how many."""
    cutoff = (now or timezone.now()) - IMPORT_ABANDONED_AFTER
    with unscoped():
        stale = list(
            ImportJob.all_objects.filter(state__in=ABANDONABLE, created_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        cancelled = 0
        for pk in stale:
            try:
                cancelled += _cancel_abandoned(pk, cutoff)
            except Exception:  # one job must not stop the others; tomorrow retries it
                logger.exception("cancel_abandoned_imports: job %s failed", pk)
        return cancelled


def _cancel_abandoned(pk: int, cutoff: datetime) -> bool:
    with transaction.atomic():
        # Locked and checked again: a job confirmed or cancelled meanwhile is left be.
        found = (
            ImportJob.all_objects.select_for_update()
            .filter(pk=pk, state__in=ABANDONABLE, created_at__lt=cutoff)
            .first()
        )
        if found is None:
            return False
        before = {"state": found.state}
        found.state = ImportJob.State.CANCELLED
        found.finished_at = timezone.now()
        found.save(update_fields=["state", "finished_at"])
        log_action(
            "system",
            "registry.import.abandoned",
            found,
            before=before,
            after={"state": found.state, "sha256": found.sha256, "created_at": found.created_at},
        )
        transaction.on_commit(lambda: importing.delete_file(found))
    return True

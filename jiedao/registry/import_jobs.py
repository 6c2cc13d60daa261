"""Import jobs (dry run, import) run in the background.

Both are safe to run twice (docs/operations.md): the dry run starts afresh, the import resumes
from its checkpoint and skips rows it already wrote (their digest is unchanged). A second run
of the same job supersedes the first, which stops at its next chunk."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation

from jiedao.accounts.models import User
from jiedao.core.scopes import unscoped
from jiedao.jobs.base import job
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

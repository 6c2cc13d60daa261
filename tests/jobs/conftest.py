from __future__ import annotations

import pytest

from jiedao.jobs import base


@pytest.fixture(autouse=True)
def database_tasks(settings):
    """The jobs tests always run on django-tasks-db, whatever JIEDAO_TASK_BACKEND says."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def registry(monkeypatch):
    """An empty periodic-job registry for the test; the real one comes back afterwards."""
    monkeypatch.setattr(base, "PERIODIC_JOBS", {})
    return base.PERIODIC_JOBS

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import OperationalError


def test_healthz_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_healthz_503_when_database_is_down(client, db, monkeypatch):
    class Down:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr("jiedao.core.views.connections", {"default": Down()})
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error")


def test_healthz_checks_redis_when_configured(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["checks"]["redis"].startswith("error")


FERNET = "q1L9c0mP6yKx3zF0b8Yv2N5dW7hJ4tRaSeUiOgBkXlE="


def _settings_in_subprocess(**env: str) -> subprocess.CompletedProcess:
    unset = {"SECRET_KEY", "JIEDAO_FIELD_KEY", "DEBUG", "JIEDAO_ENV", "JIEDAO_TESTING"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; from django.conf import settings; django.setup(); print(settings.DEBUG)",
        ],
        env={**clean, "DJANGO_SETTINGS_MODULE": "jiedao.config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


PRODUCTION = {"JIEDAO_ENV": "production"}
REAL_SECRET = {"SECRET_KEY": "x" * 50}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (PRODUCTION, "SECRET_KEY"),
        (PRODUCTION | REAL_SECRET, "JIEDAO_FIELD_KEY"),
        (PRODUCTION | REAL_SECRET | {"JIEDAO_FIELD_KEY": "k" * 44}, "not a valid key"),
        (PRODUCTION | REAL_SECRET | {"JIEDAO_FIELD_KEY": FERNET, "DEBUG": "1"}, "DEBUG"),
        # A forgotten or misspelled JIEDAO_ENV with DEBUG off is treated like production.
        ({"DEBUG": "0"}, "SECRET_KEY"),
        ({"JIEDAO_ENV": "prod", "DEBUG": "0"}, "SECRET_KEY"),
    ],
)
def test_refuses_default_secrets(env, message):
    result = _settings_in_subprocess(**env)
    assert result.returncode != 0 and message in result.stderr


def test_production_starts_with_real_secrets():
    result = _settings_in_subprocess(**PRODUCTION, **REAL_SECRET, JIEDAO_FIELD_KEY=FERNET)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_development_without_debug_is_allowed_when_said_explicitly():
    """The benchmark runs DEBUG off with development keys, and says so."""
    assert _settings_in_subprocess(JIEDAO_ENV="development", DEBUG="0").returncode == 0


def test_favicon_redirects_to_the_static_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")

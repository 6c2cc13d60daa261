"""Settings, all from the environment (healthchecks style), with safe development defaults.

JIEDAO_ENV=production refuses to start with the development SECRET_KEY or JIEDAO_FIELD_KEY.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("JIEDAO_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    return env(name, str(default)).lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105
# 32 url-safe base64 bytes (a Fernet key) used only in development and tests.
DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LWNoYW5nZS1tZS0xMjM="

JIEDAO_ENV = env("JIEDAO_ENV", "development")
PRODUCTION = JIEDAO_ENV == "production"
TESTING = "pytest" in sys.modules or env_bool("JIEDAO_TESTING")
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env("SECRET_KEY", DEV_SECRET_KEY)
JIEDAO_FIELD_KEY = env("JIEDAO_FIELD_KEY", DEV_FIELD_KEY)
# Previous field keys, decrypt only, while `manage.py rotate_field_key` re-encrypts the data.
JIEDAO_FIELD_KEYS_OLD = env_list("JIEDAO_FIELD_KEYS_OLD")
# Largest population file accepted for import (bytes); the proxy's body limit must allow it.
JIEDAO_IMPORT_MAX_BYTES = int(env("JIEDAO_IMPORT_MAX_BYTES", str(200 * 1024 * 1024)))
# Overlap between two grids of a street tolerated as drawing noise (m²); largest grid file.
JIEDAO_GRID_TOLERANCE_M2 = float(env("JIEDAO_GRID_TOLERANCE_M2", "1.0"))
JIEDAO_GRID_IMPORT_MAX_BYTES = int(env("JIEDAO_GRID_IMPORT_MAX_BYTES", str(3 * 1024 * 1024)))


def _check_secrets() -> None:
    """Production, or any server with DEBUG off that did not say it is a development one, must
    bring its own keys: a forgotten JIEDAO_ENV must not mean forgeable sessions."""
    explicit_development = os.environ.get("JIEDAO_ENV") == "development"
    if not (PRODUCTION or (not DEBUG and not TESTING and not explicit_development)):
        return
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 40:
        raise ImproperlyConfigured("Set a real SECRET_KEY (40+ characters) when DEBUG is off.")
    if JIEDAO_FIELD_KEY == DEV_FIELD_KEY:
        raise ImproperlyConfigured(
            "Set JIEDAO_FIELD_KEY when DEBUG is off (see docs/deployment.md)."
        )
    try:
        from cryptography.fernet import Fernet

        Fernet(JIEDAO_FIELD_KEY.encode())
        for old_key in env_list("JIEDAO_FIELD_KEYS_OLD"):
            Fernet(old_key.encode())
    except ValueError as exc:
        raise ImproperlyConfigured(
            "JIEDAO_FIELD_KEY is not a valid key (32 url-safe base64 bytes)."
        ) from exc
    if PRODUCTION and DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production.")


_check_secrets()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "rules.apps.AutodiscoverRulesConfig",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_tasks",
    "django_tasks_db",
    "jiedao.core",
    "jiedao.audit",
    "jiedao.territory",
    "jiedao.workdays",
    "jiedao.cases",
    "jiedao.notify",
    "jiedao.accounts",
    "jiedao.registry",
    "jiedao.party",
    "jiedao.fieldwork",
    "jiedao.jobs",
    "jiedao.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "jiedao.core.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "jiedao.accounts.middleware.ScopeMiddleware",
    "jiedao.audit.middleware.AuditContextMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "jiedao.config.urls"
WSGI_APPLICATION = "jiedao.config.wsgi.application"
ASGI_APPLICATION = "jiedao.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "jiedao" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "jiedao.core.context_processors.shell",
            ],
        },
    },
]

# --- Database: SQLite embedded default, PostgreSQL in production --------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'jiedao.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN: no "database is locked" upgrade deadlocks
        # between the web process and the worker; WAL lets readers run beside a writer.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = (
        {"NAME": env("JIEDAO_TEST_SQLITE", "")} if env("JIEDAO_TEST_SQLITE") else {}
    )
else:
    test_name = env("JIEDAO_TEST_DB_NAME")
    if test_name:
        DATABASES["default"]["TEST"] = {"NAME": test_name}
# Read replicas: DATABASE_REPLICA_URLS=postgres://...,postgres://... (reads of reports and lists).
for index, url in enumerate(env_list("DATABASE_REPLICA_URLS")):
    DATABASES[f"replica{index}"] = dj_database_url.parse(url, conn_max_age=60)
    DATABASES[f"replica{index}"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["jiedao.core.db.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis ---------------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background jobs: Django's Tasks API (django-tasks backport) -------------------------
# Embedded default: the database backend (no extra server). Production: RQ on Redis.
TASK_BACKEND = env("JIEDAO_TASK_BACKEND", "rq" if REDIS_URL and PRODUCTION else "database")
if TASK_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    TASKS = {"default": {"BACKEND": "jiedao.jobs.rq_backend.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0"}}
    # `manage.py rqworker` must build django-tasks-rq's Job, which knows how to call a Task.
    RQ = {"JOB_CLASS": "django_tasks_rq.backend.Job"}
elif TASK_BACKEND == "immediate":
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# jiedao.jobs (docs/operations.md): when a silent worker's RUNNING tasks are put back, and how
# long finished task results are kept.
JIEDAO_WORKER_STALE_SECONDS = int(env("JIEDAO_WORKER_STALE_SECONDS", "90"))
JIEDAO_TASK_RESULT_DAYS = int(env("JIEDAO_TASK_RESULT_DAYS", "14"))
JIEDAO_FAILED_TASK_RESULT_DAYS = int(env("JIEDAO_FAILED_TASK_RESULT_DAYS", "90"))

# --- Accounts and security -------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "accounts:login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 is deliberately slow; tests that check the real hasher set it themselves.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lock-out: 5 failures for one username from one address lock it for 30 minutes.
AXES_FAILURE_LIMIT = int(env("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(env("AXES_COOLOFF_HOURS", "0.5"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "jiedao.accounts.views.locked_out"
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_VERBOSE = False
# Behind a load balancer, the number of trusted proxies in front of the app: the client's
# address is then read from X-Forwarded-For (for lock-out and the audit trail).
JIEDAO_PROXY_COUNT = int(env("JIEDAO_PROXY_COUNT", "0"))
AXES_CLIENT_IP_CALLABLE = "jiedao.core.net.client_ip"
SESSION_COOKIE_AGE = int(env("SESSION_COOKIE_AGE", str(8 * 3600)))  # one working day
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if REDIS_URL
    else "django.contrib.sessions.backends.db"
)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", str(365 * 24 * 3600 if PRODUCTION else 0)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = False
# Preloading is a decision for each government domain's owner, not a default of the software.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
X_FRAME_OPTIONS = "DENY"
OTP_TOTP_ISSUER = "jiedao"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Internationalisation: Chinese first, English complete --------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "jiedao" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files (built by `npm run build` into jiedao/static/dist) --------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "jiedao" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and not TESTING
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_AUTOREFRESH = DEBUG or TESTING
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

# --- Jiedao ------------------------------------------------------------------------------
JIEDAO_SITE_NAME = _("Jiedao")
JIEDAO_MAP_TILE_URL = env("JIEDAO_MAP_TILE_URL", "")
# Credit line the tile provider requires (Tianditu: "天地图 GS(…)号"); see docs/map.md.
JIEDAO_MAP_TILE_ATTRIBUTION = env("JIEDAO_MAP_TILE_ATTRIBUTION", "")
# Days the server remembers a phone's form key (a resend after that would count again).
JIEDAO_SENT_FORM_DAYS = int(env("JIEDAO_SENT_FORM_DAYS", "180"))
# The letters or digits of {s} in the tile URL (Tianditu: 01234567 for t0 … t7).
JIEDAO_MAP_TILE_SUBDOMAINS = env("JIEDAO_MAP_TILE_SUBDOMAINS", "")
NINJA_PAGINATION_PER_PAGE = 50
NINJA_MAX_PER_PAGE_SIZE = 500
JIEDAO_AUDIT_ANCHOR_FILE = env("JIEDAO_AUDIT_ANCHOR_FILE", "")
JIEDAO_EXPORT_MAX_ROWS = int(env("JIEDAO_EXPORT_MAX_ROWS", "100000"))
# SMS gateway (dotted path of a backend class; the console backend only logs, number masked).
JIEDAO_SMS_BACKEND = env("JIEDAO_SMS_BACKEND", "jiedao.notify.sms.ConsoleBackend")
# Case photos: largest accepted upload.
JIEDAO_PHOTO_MAX_BYTES = int(env("JIEDAO_PHOTO_MAX_BYTES", str(10 * 1024 * 1024)))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "WARNING")},
    "loggers": {"jiedao": {"level": env("LOG_LEVEL", "INFO")}, "axes": {"level": "WARNING"}},
}

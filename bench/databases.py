"""Scratch databases for a benchmark run: a fresh PostgreSQL database or a SQLite file each."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PG_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Database:
    backend: str  # "postgresql" or "sqlite"
    url: str
    name: str


def pg_server_url() -> str:
    """Where the scratch databases are created: BENCH_PG_URL, a maintenance database URL."""
    return os.environ.get("BENCH_PG_URL", DEFAULT_PG_SERVER)


def with_database(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def postgres_available(server_url: str) -> str | None:
    """None when the server answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(_libpq(server_url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def create_postgres(name: str, server_url: str | None = None) -> Database:
    import psycopg

    server_url = server_url or pg_server_url()
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_safe(name)}"')
        conn.execute(f'CREATE DATABASE "{_safe(name)}"')
    return Database("postgresql", with_database(server_url, name), name)


def drop_postgres(database: Database, server_url: str | None = None) -> None:
    import psycopg

    with psycopg.connect(_libpq(server_url or pg_server_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_safe(database.name)}" WITH (FORCE)')


def create_sqlite(name: str, directory: Path | None = None) -> Database:
    filename = f"{_safe(name)}.sqlite3"
    directory = directory or Path(tempfile.mkdtemp(prefix="jiedao-bench-"))
    path = directory / filename
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Database("sqlite", f"sqlite:///{path}", name)


def drop_sqlite(database: Database) -> None:
    path = Path(database.url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if path.parent.name.startswith("jiedao-bench-") and not any(path.parent.iterdir()):
        path.parent.rmdir()  # the temporary directory create_sqlite made


def drop(database: Database) -> None:
    if database.backend == "postgresql":
        drop_postgres(database)
    else:
        drop_sqlite(database)


def _libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def _safe(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name: {name!r}")
    return name

"""The database itself refuses UPDATE, DELETE and TRUNCATE on the audit trail.

Installed by migration 0002 and again after every ``migrate`` (post_migrate): SQLite rebuilds a
table, dropping its triggers, whenever a migration alters a column, and the protection must not
disappear silently."""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "audit_auditentry"
STATEMENTS = {
    "sqlite": [
        f"CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON {TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;",
        f"CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON {TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'audit trail is append-only'; END; $$ LANGUAGE plpgsql;",
        f"CREATE OR REPLACE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only();",
        f"CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();",
    ],
}


def ensure_append_only(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in STATEMENTS.get(connection.vendor, []):
            cursor.execute(statement)

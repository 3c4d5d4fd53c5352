"""The database's own refusal to change or remove audit entries (defence in depth: the model
refuses too, but a trigger also stops raw SQL and other programs). Used by migration 0002, and
by the test suite, which must lift it to empty the database between transactional tests."""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "clinic_auditentry"

_INSTALL = {
    "sqlite": [
        f"CREATE TRIGGER IF NOT EXISTS clinic_audit_no_update BEFORE UPDATE ON {TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
        f"CREATE TRIGGER IF NOT EXISTS clinic_audit_no_delete BEFORE DELETE ON {TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION clinic_audit_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql;",
        f"CREATE OR REPLACE TRIGGER clinic_audit_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION clinic_audit_append_only();",
        f"CREATE OR REPLACE TRIGGER clinic_audit_no_truncate BEFORE TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION clinic_audit_append_only();",
    ],
}
_REMOVE = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS clinic_audit_no_update;",
        "DROP TRIGGER IF EXISTS clinic_audit_no_delete;",
    ],
    "postgresql": [
        f"DROP TRIGGER IF EXISTS clinic_audit_no_change ON {TABLE};",
        f"DROP TRIGGER IF EXISTS clinic_audit_no_truncate ON {TABLE};",
        "DROP FUNCTION IF EXISTS clinic_audit_append_only();",
    ],
}


def install(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for sql in _INSTALL.get(connection.vendor, []):
            cursor.execute(sql)


def remove(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for sql in _REMOVE.get(connection.vendor, []):
            cursor.execute(sql)

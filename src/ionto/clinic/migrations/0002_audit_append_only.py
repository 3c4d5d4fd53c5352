"""The database refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) of audit entries."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from ionto.clinic import audit_triggers


def _install(_apps: Any, schema_editor: Any) -> None:
    audit_triggers.install(schema_editor.connection)


def _remove(_apps: Any, schema_editor: Any) -> None:
    audit_triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("clinic", "0001_initial")]

    operations = [migrations.RunPython(_install, _remove)]

"""The database refuses UPDATE and DELETE on the audit trail (see jiedao/audit/db.py)."""

from django.db import migrations


def install(apps, schema_editor):
    from jiedao.audit.db import ensure_append_only

    ensure_append_only(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]

"""The text-message outbox's phone numbers encrypted at rest (domain.md §10)."""

from django.db import migrations

import jiedao.core.fields
from jiedao.core.crypto import FieldCryptoError, decrypt, encrypt


def _rows(connection):
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, phone FROM notify_smsmessage")
        return cursor.fetchall()


def _plain(value):
    try:
        return decrypt(value or "")
    except FieldCryptoError:
        return value or ""


def _rewrite(schema_editor, transform):
    connection = schema_editor.connection
    updates = [(transform(_plain(phone)), pk) for pk, phone in _rows(connection) if phone]
    with connection.cursor() as cursor:
        cursor.executemany("UPDATE notify_smsmessage SET phone = %s WHERE id = %s", updates)


def encrypt_phones(apps, schema_editor):
    _rewrite(schema_editor, encrypt)


def decrypt_phones(apps, schema_editor):
    _rewrite(schema_editor, lambda plain: plain)


class Migration(migrations.Migration):
    dependencies = [
        ("notify", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="smsmessage",
            name="phone",
            field=jiedao.core.fields.EncryptedTextField(
                blank=True, default="", kind="phone", verbose_name="phone"
            ),
        ),
        migrations.RunPython(encrypt_phones, decrypt_phones),
    ]

"""Re-encrypt every EncryptedTextField under the current JIEDAO_FIELD_KEY.

Operator steps are in docs/personal-data.md: put the new key in JIEDAO_FIELD_KEY, the previous
one in JIEDAO_FIELD_KEYS_OLD, restart, run this command, then drop the old key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import models, transaction
from django.db.models.functions import Cast

from jiedao.core.crypto import blind_index, decrypt, is_current, rotate_token
from jiedao.core.fields import EncryptedTextField
from jiedao.core.scopes import unscoped

Progress = Callable[[str], None]


@dataclass
class RotationResult:
    label: str  # app_label.Model.field
    rows: int = 0
    rotated: int = 0


def encrypted_fields(model_list: Iterable[type[models.Model]]) -> list[EncryptedTextField]:
    return [
        field
        for model in model_list
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


def rotate_tokens(tokens: Iterable[str]) -> list[str]:
    """Each token under the current key; current ones and "" are returned unchanged, so a
    second run is a no-op."""
    return [token if is_current(token) else rotate_token(token) for token in tokens]


def rotate_field(
    field: EncryptedTextField, batch_size: int = 500, progress: Progress | None = None
) -> RotationResult:
    """Walk the table by primary key in batches, each one transaction with its rows locked,
    so a write by the application between our read and our update cannot be lost."""
    model = field.model
    result = RotationResult(label=f"{model._meta.label}.{field.name}")
    last_pk: Any = None
    with unscoped():
        while True:
            with transaction.atomic():
                batch = _batch(model, field, last_pk, batch_size)
                for pk, raw in batch:
                    result.rotated += _rotate_row(model, field, pk, raw)
            if not batch:
                break
            last_pk = batch[-1][0]
            result.rows += len(batch)
            if progress:
                progress(f"{result.label}: {result.rows} rows checked, {result.rotated} rotated")
    return result


def _batch(
    model: type[models.Model], field: EncryptedTextField, last_pk: Any, size: int
) -> list[tuple[Any, str]]:
    # Cast to a plain TextField reads the stored token, not the decrypted value.
    queryset = model._base_manager.select_for_update().order_by("pk")
    if last_pk is not None:
        queryset = queryset.filter(pk__gt=last_pk)
    raw = Cast(field.name, output_field=models.TextField())
    return list(queryset.annotate(raw_token=raw).values_list("pk", "raw_token")[:size])


def _rotate_row(model: type[models.Model], field: EncryptedTextField, pk: Any, raw: str) -> int:
    if raw is None or is_current(raw):
        return 0
    # Value with a plain output field: the new token is stored as is, not encrypted again.
    changes: dict[str, Any] = {
        field.attname: models.Value(rotate_token(raw), output_field=models.TextField())
    }
    if field.blind_index_field:
        changes[field.blind_index_field] = blind_index(field.kind, decrypt(raw))
    model._base_manager.filter(pk=pk).update(**changes)
    return 1


def rotate_all(
    model_list: Iterable[type[models.Model]] | None = None,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> list[RotationResult]:
    fields = encrypted_fields(apps.get_models() if model_list is None else model_list)
    return [rotate_field(field, batch_size, progress) for field in fields]


class Command(BaseCommand):
    help = "Re-encrypt protected fields under the current JIEDAO_FIELD_KEY (after a rotation)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, batch_size: int = 500, **options: Any) -> None:
        if batch_size < 1:
            self.stderr.write("--batch-size must be at least 1.")
            return
        results = rotate_all(batch_size=batch_size, progress=self.stdout.write)
        if not results:
            self.stdout.write("No encrypted fields: nothing to rotate.")
            return
        for result in results:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{result.label}: {result.rotated} of {result.rows} rows re-encrypted."
                )
            )

"""log_action: the one way to record a write or a sensitive read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from jiedao.audit.context import current_origin
from jiedao.audit.models import GENESIS_HASH, AuditEntry, AuditHead
from jiedao.core.scopes import unscoped


def snapshot(obj: models.Model | None, exclude: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """A JSON-safe picture of a model instance for before/after."""
    if obj is None:
        return None
    from jiedao.core.fields import EncryptedTextField  # core must not import audit at load

    # Encrypted personal data never reaches the append-only trail in clear.
    encrypted = [f.name for f in obj._meta.concrete_fields if isinstance(f, EncryptedTextField)]
    data = model_to_dict(obj, exclude=[*exclude, *encrypted])
    data["territory_code"] = getattr(obj, "territory_code", None)
    return _json_safe(data)


def _json_safe(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """JSON-serialisable, and without NUL: PostgreSQL's jsonb refuses it, and a stray one must
    not make the audited write fail."""
    if data is None:
        return None
    text = json.dumps(data, cls=DjangoJSONEncoder, default=str).replace("\\u0000", "\\ufffd")
    return json.loads(text)


def log_action(
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str = "",
    territory_code: str | None = None,
    kind: str = AuditEntry.Kind.WRITE,
) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction (atomic with the write)."""
    source = current_origin()
    if territory_code is None:
        territory_code = getattr(obj, "territory_code", None) or getattr(obj, "code", "") or ""
    with transaction.atomic(), unscoped():
        head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
        entry = AuditEntry(
            at=timezone.now(),  # taken under the lock, so times never run backwards along the chain
            kind=kind,
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=_actor_label(actor),
            action=action,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
            object_repr=str(obj)[:255] if obj is not None else "",
            before=_json_safe(before),
            after=_json_safe(after),
            note=note.replace("\x00", "\ufffd"),
            ip=source.ip,
            user_agent=source.user_agent,
            request_id=source.request_id,
            prev_hash=head.last_hash or GENESIS_HASH,
            territory_code=territory_code,
        )
        entry.seq = head.last_seq + 1
        entry.hash = entry.compute_hash()
        entry.save(force_insert=True)
        head.last_seq, head.last_hash = entry.seq, entry.hash
        head.save(update_fields=["last_seq", "last_hash"])
    return entry


def stored_snapshot(obj: models.Model) -> dict[str, Any] | None:
    """The row as the database has it now (None for a new object), whatever the scope."""
    if obj.pk is None:
        return None
    with unscoped():
        return snapshot(type(obj)._base_manager.filter(pk=obj.pk).first())


@contextmanager
def audited(actor: Any, action: str, obj: models.Model) -> Iterator[None]:
    """Save ``obj`` inside the block; the entry records ``<action>.create`` or ``.update`` with
    the row before and after."""
    before = stored_snapshot(obj)
    yield
    verb = "create" if before is None else "update"
    log_action(actor, f"{action}.{verb}", obj, before=before, after=snapshot(obj))


def log_sensitive_read(actor: Any, obj: models.Model, field: str, reason: str) -> AuditEntry:
    return log_action(
        actor, f"reveal.{field}", obj, note=reason, kind=AuditEntry.Kind.SENSITIVE_READ
    )


def _actor_label(actor: Any) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return (getattr(actor, "get_username", lambda: str(actor))() or str(actor))[:150]


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(batch_size: int = 2000) -> ChainReport:
    """Walk the chain in order and report the first entry whose link or content does not hold.

    The head is read first and the walk stops at it: entries appended while the check runs are
    left for the next run instead of looking like a gap."""
    previous_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    with unscoped():
        head = AuditHead.objects.filter(pk=1).first()
        last_seq = head.last_seq if head else 0
        entries = (
            AuditEntry.objects.filter(seq__lte=last_seq)
            .order_by("seq")
            .iterator(chunk_size=batch_size)
        )
        for entry in entries:
            if entry.seq != expected_seq:
                return ChainReport(checked, expected_seq, f"entry {expected_seq} is missing")
            if entry.prev_hash != previous_hash:
                return ChainReport(
                    checked, entry.seq, "its link to the previous entry does not match"
                )
            if entry.compute_hash() != entry.hash:
                return ChainReport(checked, entry.seq, "its content does not match its hash")
            previous_hash, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
        if checked != last_seq:
            return ChainReport(checked, checked + 1, f"entries after {checked} are missing")
        if head is not None and checked and head.last_hash != previous_hash:
            return ChainReport(checked, last_seq, "the chain head does not match the last entry")
    return ChainReport(checked)

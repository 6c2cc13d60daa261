from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from jiedao.audit.models import AuditEntry
from jiedao.core.selectors import visible


def entries(actor: Any, q: str = "") -> QuerySet[AuditEntry]:
    rows = visible(AuditEntry, actor)
    if q:
        rows = rows.filter(
            Q(action__startswith=q) | Q(actor_label__icontains=q) | Q(object_repr__icontains=q)
        )
    return rows

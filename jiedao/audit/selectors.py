from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from jiedao.accounts.roles import AUDIT_READERS
from jiedao.audit.models import AuditEntry
from jiedao.core.selectors import visible


def entries(actor: Any, q: str = "") -> QuerySet[AuditEntry]:
    # Only the territory of the grants that let one read the trail (not, say, a grid worker's).
    rows = visible(AuditEntry, actor, scope=actor.scope_for(AUDIT_READERS))
    if q:
        rows = rows.filter(
            Q(action__startswith=q) | Q(actor_label__icontains=q) | Q(object_repr__icontains=q)
        )
    return rows

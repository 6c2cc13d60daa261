"""Anchor the audit chain outside the database.

The chain shows that no entry was edited, removed or inserted, unless someone rewrites the whole
chain from the edited entry on; a copy of the head kept elsewhere (syslog, a WORM store, a
printed daily report) makes that visible too. Every hour the head goes to the
``jiedao.audit.anchor`` logger and, when JIEDAO_AUDIT_ANCHOR_FILE is set, is appended to that file.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jiedao.audit.models import AuditHead
from jiedao.jobs.base import job, periodic

logger = logging.getLogger("jiedao.audit.anchor")


@periodic(every=timedelta(hours=1), name="audit.anchor_chain_head")
@job(max_attempts=3, backoff_seconds=60)
def anchor_chain_head() -> dict[str, object]:
    head = AuditHead.objects.filter(pk=1).first()
    record = {
        "at": timezone.now().isoformat(),
        "last_seq": head.last_seq if head else 0,
        "last_hash": head.last_hash if head else "",
    }
    line = json.dumps(record, sort_keys=True)
    logger.info("audit chain head %s", line)
    path = getattr(settings, "JIEDAO_AUDIT_ANCHOR_FILE", "")
    if path:
        with open(path, "a", encoding="utf-8") as anchor_file:
            anchor_file.write(line + "\n")
    return record

"""Read replicas (DATABASE_REPLICA_URLS) serve only reads that say so: ``qs.using(replica())``.

Routing every read to a replica would sign people out after they sign in, keep revoked tokens
working for the replica's lag and send the job worker's SELECT ... FOR UPDATE to a standby that
refuses it. Reports, dashboards and exports, which tolerate a second of lag, opt in."""

from __future__ import annotations

import random

from django.conf import settings


def replica() -> str:
    """A replica's alias for a lag-tolerant read, or ``default`` when none is configured."""
    replicas = [alias for alias in settings.DATABASES if alias.startswith("replica")]
    return random.choice(replicas) if replicas else "default"


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        return "default"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_append_only(sender, using="default", **kwargs):
    from django.db import connections

    from jiedao.audit.db import ensure_append_only

    ensure_append_only(connections[using])


class AuditConfig(AppConfig):
    name = "jiedao.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Again after every migrate: a table rebuild on SQLite drops triggers.
        post_migrate.connect(_ensure_append_only, sender=self, dispatch_uid="audit_append_only")

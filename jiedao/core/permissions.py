"""One permission check for views and services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

OUTSIDE_ROLE = _("You may not change this here: it is outside your role or territory.")


def require_perm(actor: Any, perm: str, obj: Any = None, message: Any = None) -> None:
    """Refuse (403) unless ``actor`` holds ``perm`` on ``obj``. ``actor`` None is the system
    itself (commands, jobs, the demo generator), which may do anything."""
    if actor is not None and not actor.has_perm(perm, obj):
        raise PermissionDenied(message or OUTSIDE_ROLE)

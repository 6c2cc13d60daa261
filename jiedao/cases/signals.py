"""A grid saved or deleted anywhere makes every process rebuild its grid index."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from jiedao.cases import gridindex
from jiedao.territory.models import Grid


@receiver(post_save, sender=Grid, dispatch_uid="cases.grid_saved")
@receiver(post_delete, sender=Grid, dispatch_uid="cases.grid_deleted")
def grid_changed(sender: Any, **kwargs: Any) -> None:
    gridindex.invalidate()

"""A grid saved or deleted anywhere makes every process rebuild its grid index; a renamed
community or street clears the cached unit names."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from jiedao.cases import gridindex
from jiedao.territory.models import Community, Grid, Street
from jiedao.territory.selectors import unit_name


@receiver(post_save, sender=Grid, dispatch_uid="cases.grid_saved")
@receiver(post_delete, sender=Grid, dispatch_uid="cases.grid_deleted")
def grid_changed(sender: Any, **kwargs: Any) -> None:
    gridindex.invalidate()


@receiver(post_save, sender=Community, dispatch_uid="cases.community_renamed")
@receiver(post_save, sender=Street, dispatch_uid="cases.street_renamed")
def unit_renamed(sender: Any, **kwargs: Any) -> None:
    unit_name.cache_clear()

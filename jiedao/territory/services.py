"""Writes to the territory: validated, in one transaction, and written to the audit trail."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from jiedao.audit.services import log_action, snapshot
from jiedao.core import geo
from jiedao.core.scopes import unscoped
from jiedao.territory import codes
from jiedao.territory.models import Community, Grid, TerritoryNode


def _require_scope(actor: Any, code: str) -> None:
    if actor is not None and not actor.scope.covers_code(code):
        raise PermissionDenied(_("This is outside your territory."))


def _require_editor(actor: Any, record: models.Model) -> None:
    if actor is not None and not actor.has_perm("territory.change_record", record):
        raise PermissionDenied(_("You may not change this record."))


def _apply_boundary(node: TerritoryNode, boundary: dict | None) -> None:
    node.boundary = boundary
    if boundary:
        shape = geo.shape_from_geojson(boundary)
        centre = shape.representative_point()
        node.centre_lng, node.centre_lat = centre.x, centre.y
        if isinstance(node, Grid):
            node.min_lng, node.min_lat, node.max_lng, node.max_lat = shape.bounds


@transaction.atomic
def save_node(actor: Any, node: TerritoryNode, *, boundary: dict | None = None) -> TerritoryNode:
    """Create or update a district, street, community or grid after validating its code."""
    _require_scope(actor, node.code)
    with unscoped():
        before = snapshot(type(node).all_objects.filter(pk=node.pk).first()) if node.pk else None
        if boundary is not None:
            _apply_boundary(node, boundary)
        node.full_clean()
        node.save()
    action = "create" if before is None else "update"
    log_action(actor, f"territory.{node.level}.{action}", node, before=before, after=snapshot(node))
    return node


def next_grid_code(community: Community) -> str:
    """Grid codes append a 3-digit number to the community's code; numbers are never reused."""
    with unscoped():
        last = Grid.all_objects.filter(community=community).aggregate(m=Max("code"))["m"]
    number = int(last[12:]) + 1 if last else 1
    return codes.grid_code(community.code, number)


@transaction.atomic
def create_grid(actor: Any, community: Community, name: str, boundary: dict | None = None) -> Grid:
    grid = Grid(community=community, name=name, code=next_grid_code(community))
    save_node(actor, grid, boundary=boundary)
    return grid


@transaction.atomic
def retire_node(actor: Any, node: TerritoryNode, on: date) -> TerritoryNode:
    """Nodes are retired, never deleted: their codes stay taken for ever."""
    _require_scope(actor, node.code)
    before = snapshot(node)
    node.retired_at = on
    node.save(update_fields=["retired_at"])
    log_action(actor, f"territory.{node.level}.retire", node, before=before, after=snapshot(node))
    return node


@transaction.atomic
def save_record(actor: Any, record: models.Model, **changes: Any) -> models.Model:
    """Create or update a building, dwelling, address or organisation inside the actor's scope."""
    with unscoped():
        before = (
            snapshot(type(record)._base_manager.filter(pk=record.pk).first()) if record.pk else None
        )
        for field, value in changes.items():
            setattr(record, field, value)
        record.full_clean()
        record.save()
    _require_editor(actor, record)
    action = "create" if before is None else "update"
    log_action(
        actor,
        f"territory.{record._meta.model_name}.{action}",
        record,
        before=before,
        after=snapshot(record),
    )
    return record

"""Writes to the territory: permission first, then validation, one transaction, an audit entry."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from jiedao.audit.services import audited, log_action, snapshot
from jiedao.core import geo
from jiedao.core.permissions import require_perm
from jiedao.core.scopes import unscoped
from jiedao.territory import codes
from jiedao.territory.models import Community, Grid, TerritoryNode

# The parent that places a new record in the territory (its territory_code comes from it).
PARENT_FIELD = {
    "building": "grid",
    "organisation": "grid",
    "standardaddress": "grid",
    "entrance": "building",
    "dwelling": "building",
}


def _apply_boundary(node: TerritoryNode, boundary: dict | None) -> None:
    node.boundary = boundary
    if boundary:
        shape = geo.shape_from_geojson(boundary)
        centre = shape.representative_point()
        node.centre_lng, node.centre_lat = centre.x, centre.y
        if isinstance(node, Grid):
            node.min_lng, node.min_lat, node.max_lng, node.max_lat = shape.bounds


def _stored(obj: models.Model) -> models.Model | None:
    with unscoped():
        return type(obj)._base_manager.filter(pk=obj.pk).first() if obj.pk else None


@transaction.atomic
def save_node(actor: Any, node: TerritoryNode, *, boundary: dict | None = None) -> TerritoryNode:
    """Create or update a district, street, community or grid; its code never changes."""
    require_perm(actor, f"territory.change_{node.level}", node)
    stored = _stored(node)
    if stored is not None and stored.code != node.code:  # type: ignore[attr-defined]
        raise ValidationError(
            _("A code never changes: retire the node and create a new one."), code="code_fixed"
        )
    with audited(actor, f"territory.{node.level}", node), unscoped():
        if boundary is not None:
            _apply_boundary(node, boundary)
        node.full_clean()
        node.save()
    return node


def next_grid_code(community: Community) -> str:
    """Grid codes append a 3-digit number to the community's code; numbers are never reused.
    Call inside a transaction: the community row is locked so two new grids get two numbers."""
    with unscoped():
        Community.all_objects.select_for_update().filter(pk=community.pk).first()
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
    require_perm(actor, f"territory.change_{node.level}", node)
    before = snapshot(node)
    node.retired_at = on
    node.save(update_fields=["retired_at"])
    log_action(actor, f"territory.{node.level}.retire", node, before=before, after=snapshot(node))
    return node


@transaction.atomic
def save_record(actor: Any, record: models.Model, **changes: Any) -> models.Model:
    """Create or update a building, entrance, dwelling, address or organisation.

    The actor must be an editor where the record is (for a new one: where its parent is). A
    record does not move to another parent here: its rows below would keep the old territory
    code, so moving is a separate operation."""
    model_name = record._meta.model_name or ""
    parent_field = PARENT_FIELD[model_name]
    stored = _stored(record)
    if stored is None:
        require_perm(actor, "territory.change_record", getattr(record, parent_field))
    else:
        require_perm(actor, "territory.change_record", stored)
        if f"{parent_field}_id" in changes or parent_field in changes:
            raise ValidationError(
                _("A record cannot be moved to another grid or building here."), code="moved"
            )
    for field, value in changes.items():
        setattr(record, field, value)
    with unscoped():
        record.full_clean()
        record.save()
    action = "create" if stored is None else "update"
    log_action(
        actor,
        f"territory.{model_name}.{action}",
        record,
        before=snapshot(stored),
        after=snapshot(record),
    )
    return record

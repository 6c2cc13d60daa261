"""Reads of the territory, always inside the actor's scope."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Substr

from jiedao.core.scopes import code_within, unscoped
from jiedao.core.selectors import search_q, visible, visible_under
from jiedao.registry.models import Household, Person, Tenancy
from jiedao.territory.models import (
    Building,
    Community,
    Department,
    District,
    Dwelling,
    Entrance,
    Grid,
    Level,
    Organisation,
    StandardAddress,
    Street,
)


def districts(actor: Any, q: str = "") -> QuerySet[District]:
    return visible(District, actor).filter(search_q(q))


def streets(actor: Any, q: str = "") -> QuerySet[Street]:
    return visible(Street, actor).filter(search_q(q)).select_related("district")


def communities(actor: Any, q: str = "", street: int | None = None) -> QuerySet[Community]:
    rows = visible(Community, actor).filter(search_q(q)).select_related("street")
    return rows.filter(street_id=street) if street else rows


def grids(actor: Any, q: str = "", community: int | None = None) -> QuerySet[Grid]:
    rows = visible(Grid, actor).filter(search_q(q)).select_related("community")
    return rows.filter(community_id=community) if community else rows


def buildings(actor: Any, q: str = "", grid: int | None = None) -> QuerySet[Building]:
    rows = (
        visible(Building, actor)
        .filter(search_q(q, code="address__full_text"))
        .select_related("grid", "address")
    )
    return rows.filter(grid_id=grid) if grid else rows


def dwellings(actor: Any, q: str = "", building: int | None = None) -> QuerySet[Dwelling]:
    rows = (
        visible(Dwelling, actor)
        .filter(search_q(q, name="address__full_text", code=None, initials=None))
        .select_related("address", "entrance", "building")
    )
    return rows.filter(building_id=building) if building else rows


def tenancies(actor: Any, dwelling: int) -> QuerySet[Tenancy]:
    """A dwelling's tenancies (租赁), the current one first."""
    return visible(Tenancy, actor).filter(dwelling=dwelling).order_by("-starts_on", "-pk")


def households(actor: Any, dwelling: int | None = None) -> QuerySet[Household]:
    rows = visible(Household, actor).annotate(member_count=Count("members"))
    return rows.filter(dwelling_id=dwelling) if dwelling else rows


def addresses(actor: Any, q: str = "") -> QuerySet[StandardAddress]:
    rows = visible(StandardAddress, actor).filter(
        search_q(q, name="full_text", code=None, initials=None)
    )
    return rows.select_related("grid")


def organisations(actor: Any, q: str = "", kind: str = "") -> QuerySet[Organisation]:
    rows = (
        visible(Organisation, actor)
        .filter(search_q(q, code="credit_code"))
        .select_related("grid", "address")
    )
    return rows.filter(kind=kind) if kind else rows


def departments(actor: Any, q: str = "") -> QuerySet[Department]:
    return visible(Department, actor).filter(search_q(q)).select_related("district")


def figures(actor: Any, code_prefix: str) -> dict[str, int]:
    """Grids, buildings, dwellings, households, population and organisations under a territory
    code, in scope. A grid's own figures leave out the grid count ("1 grid" says nothing)."""
    counts: dict[str, int] = {}
    if len(code_prefix) <= 12:  # a community or wider (grid codes have 15 digits)
        counts["grids"] = visible_under(Grid, actor, code_prefix, field="code").count()
    for key, model in FIGURE_MODELS.items():
        counts[key] = visible_under(model, actor, code_prefix).count()
    return counts


FIGURE_MODELS: dict[str, Any] = {
    "buildings": Building,
    "dwellings": Dwelling,
    "households": Household,
    "population": Person,
    "organisations": Organisation,
}


def building_figures(actor: Any, building: Building) -> dict[str, int]:
    """A building's households and population are derived from its dwellings, never stored."""
    dwellings_in = visible(Dwelling, actor).filter(building=building)
    return {
        "dwellings": dwellings_in.count(),
        "households": visible(Household, actor).filter(dwelling__building=building).count(),
        "population": visible(Person, actor).filter(dwelling__building=building).count(),
        "entrances": visible(Entrance, actor).filter(building=building).count(),
    }


def grids_with_counts(actor: Any, community: Community) -> QuerySet[Grid]:
    return grids(actor, community=community.pk).annotate(building_count=Count("buildings"))


def breakdown(actor: Any, node: Any) -> list[dict[str, Any]]:
    """Households and population per child area (streets of a district, communities of a street,
    grids of a community, buildings of a grid): one grouped query per measure."""
    area: Any
    inside_dwellings = Q()
    if node.level == Level.GRID:
        names = {b.pk: b.name for b in buildings(actor, grid=node.pk)}
        area = F("dwelling__building_id")
        # Also bound the joined dwellings by range, or PostgreSQL hashes the whole dwelling table.
        inside_dwellings = code_within("dwelling__territory_code", node.scope_prefix)
    else:
        child_model, length = CHILD_AREAS[node.level]
        rows = visible_under(child_model, actor, node.scope_prefix, field="code").order_by("code")
        names = {child.scope_prefix: child.name for child in rows}
        area = Substr("territory_code", 1, length)
    result = {key: {"name": name, "households": 0, "population": 0} for key, name in names.items()}
    for model, measure in ((Household, "households"), (Person, "population")):
        grouped = (
            visible_under(model, actor, node.scope_prefix)
            .filter(inside_dwellings)
            .annotate(area=area)
            .values("area")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in grouped:
            if row["area"] in result:
                result[row["area"]][measure] = row["n"]
    return list(result.values())


CHILD_AREAS: dict[str, tuple[Any, int]] = {
    Level.DISTRICT: (Street, 9),
    Level.STREET: (Community, 12),
    Level.COMMUNITY: (Grid, 15),
}


@lru_cache(maxsize=4096)
def unit_name(code: str) -> str:
    """The name of the community or street with ``code`` (structure, visible to all staff), or
    the code itself. Cached per process: a rename shows after a restart of the other servers
    (this server's cache is cleared by the save signal in ``cases/signals.py``)."""
    with unscoped():
        for model in (Community, Street):
            name = model.objects.filter(code=code).values_list("name", flat=True).first()
            if name:
                return str(name)
    return code

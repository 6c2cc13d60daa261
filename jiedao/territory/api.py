from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.pagination import PageNumberPagination, paginate

from jiedao.core.api import Error
from jiedao.territory import selectors

router = Router(tags=["territory"])
ERRORS: dict[int | tuple[int, ...], Any] = {(401, 403, 404): Error}


class NodeOut(Schema):
    id: int
    code: str
    name: str
    initials: str
    centre_lat: float | None
    centre_lng: float | None


class DistrictOut(NodeOut):
    pass


class StreetOut(NodeOut):
    district_id: int


class CommunityOut(NodeOut):
    street_id: int


class GridOut(NodeOut):
    community_id: int


class NodeDetailOut(NodeOut):
    boundary: dict | None
    figures: dict[str, int]
    partial: bool  # the figures count only the part of the node inside the caller's territory


class BuildingOut(Schema):
    id: int
    name: str
    grid_id: int
    territory_code: str
    address: str
    use: str
    floors: int
    lat: float | None
    lng: float | None

    @staticmethod
    def resolve_address(obj: Any) -> str:
        return obj.address.full_text


class BuildingDetailOut(BuildingOut):
    figures: dict[str, int]


class DwellingOut(Schema):
    id: int
    building_id: int
    territory_code: str
    address: str
    room: str
    floor: int
    area_m2: float | None
    use: str

    @staticmethod
    def resolve_address(obj: Any) -> str:
        return obj.address.full_text


class AddressOut(Schema):
    id: int
    grid_id: int
    territory_code: str
    full_text: str
    road: str
    number: str
    building_no: str
    entrance_no: str
    room_no: str
    lat: float | None
    lng: float | None


class OrganisationOut(Schema):
    id: int
    name: str
    kind: str
    grid_id: int
    territory_code: str
    credit_code: str
    employees: int


class DepartmentOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    district_id: int


def _node_detail(request, rows, code: str) -> dict[str, Any]:
    node = get_object_or_404(rows, code=code)
    return {
        "id": node.pk,
        "code": node.code,
        "name": node.name,
        "initials": node.initials,
        "centre_lat": node.centre_lat,
        "centre_lng": node.centre_lng,
        "boundary": node.boundary,
        "figures": selectors.figures(request.user, node.scope_prefix),
        "partial": not request.user.scope.covers_code(node.code),
    }


@router.get(
    "/streets", response={200: list[StreetOut], **ERRORS}, summary="Streets in your territory"
)
@paginate(PageNumberPagination)
def list_streets(request, q: str = ""):
    return selectors.streets(request.user, q=q).defer("boundary")


@router.get("/streets/{code}", response={200: NodeDetailOut, **ERRORS})
def get_street(request, code: str):
    return _node_detail(request, selectors.streets(request.user), code)


@router.get("/communities", response={200: list[CommunityOut], **ERRORS})
@paginate(PageNumberPagination)
def list_communities(request, q: str = "", street: int | None = None):
    return selectors.communities(request.user, q=q, street=street).defer("boundary")


@router.get("/communities/{code}", response={200: NodeDetailOut, **ERRORS})
def get_community(request, code: str):
    return _node_detail(request, selectors.communities(request.user), code)


@router.get("/grids", response={200: list[GridOut], **ERRORS})
@paginate(PageNumberPagination)
def list_grids(request, q: str = "", community: int | None = None):
    return selectors.grids(request.user, q=q, community=community).defer("boundary")


@router.get("/grids/{code}", response={200: NodeDetailOut, **ERRORS})
def get_grid(request, code: str):
    return _node_detail(request, selectors.grids(request.user), code)


@router.get("/buildings", response={200: list[BuildingOut], **ERRORS})
@paginate(PageNumberPagination)
def list_buildings(request, q: str = "", grid: int | None = None):
    return selectors.buildings(request.user, q=q, grid=grid)


@router.get("/buildings/{building_id}", response={200: BuildingDetailOut, **ERRORS})
def get_building(request, building_id: int):
    building = get_object_or_404(selectors.buildings(request.user), pk=building_id)
    building.figures = selectors.building_figures(request.user, building)  # type: ignore[attr-defined]
    return building


@router.get("/dwellings", response={200: list[DwellingOut], **ERRORS})
@paginate(PageNumberPagination)
def list_dwellings(request, q: str = "", building: int | None = None):
    return selectors.dwellings(request.user, q=q, building=building)


@router.get("/dwellings/{dwelling_id}", response={200: DwellingOut, **ERRORS})
def get_dwelling(request, dwelling_id: int):
    return get_object_or_404(selectors.dwellings(request.user), pk=dwelling_id)


@router.get(
    "/addresses",
    response={200: list[AddressOut], **ERRORS},
    summary="Standard addresses (标准地址)",
)
@paginate(PageNumberPagination)
def list_addresses(request, q: str = ""):
    return selectors.addresses(request.user, q=q)


@router.get("/organisations", response={200: list[OrganisationOut], **ERRORS})
@paginate(PageNumberPagination)
def list_organisations(request, q: str = "", kind: str = ""):
    return selectors.organisations(request.user, q=q, kind=kind)


@router.get("/departments", response={200: list[DepartmentOut], **ERRORS})
@paginate(PageNumberPagination)
def list_departments(request, q: str = ""):
    return selectors.departments(request.user, q=q)


@router.get("/organisations/{organisation_id}", response={200: OrganisationOut, **ERRORS})
def get_organisation(request, organisation_id: int):
    return get_object_or_404(selectors.organisations(request.user), pk=organisation_id)


@router.get("/departments/{code}", response={200: DepartmentOut, **ERRORS})
def get_department(request, code: str):
    return get_object_or_404(selectors.departments(request.user), code=code)


@router.get("/districts", response={200: list[DistrictOut], **ERRORS})
@paginate(PageNumberPagination)
def list_districts(request, q: str = ""):
    return selectors.districts(request.user, q=q).defer("boundary")


@router.get("/districts/{code}", response={200: NodeDetailOut, **ERRORS})
def get_district(request, code: str):
    return _node_detail(request, selectors.districts(request.user), code)

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from jiedao.core.selectors import scope_of
from jiedao.core.views_base import ScopedDetailView, ScopedListView
from jiedao.territory import selectors

CODE, NAME = ("code", _("Code")), ("name", _("Name"))
BOUNDARY = ("boundary",)


class DistrictList(ScopedListView):
    deferred = BOUNDARY
    selector = selectors.districts
    title, export_name = _("Districts"), "districts"
    columns = [CODE, NAME]


class StreetList(ScopedListView):
    deferred = BOUNDARY
    selector = selectors.streets
    title, export_name = _("Streets"), "streets"
    columns = [CODE, NAME, ("district", _("District")), ("area_km2", _("Area (km²)"))]


class CommunityList(ScopedListView):
    deferred = BOUNDARY
    selector = selectors.communities
    title, export_name, filters = _("Communities"), "communities", ("street",)
    columns = [CODE, NAME, ("street", _("Street")), ("office_area_m2", _("Office space (m²)"))]


class GridList(ScopedListView):
    deferred = BOUNDARY
    selector = selectors.grids
    title, export_name, filters = _("Grids"), "grids", ("community",)
    columns = [CODE, NAME, ("community", _("Community"))]


class BuildingList(ScopedListView):
    selector = selectors.buildings
    title, export_name, filters = _("Buildings"), "buildings", ("grid",)
    columns = [
        NAME,
        ("address.full_text", _("Address")),
        ("grid", _("Grid")),
        ("get_use_display", _("Use")),
        ("floors", _("Floors")),
    ]


class DwellingList(ScopedListView):
    selector = selectors.dwellings
    title, export_name, filters = _("Dwellings"), "dwellings", ("building",)
    columns = [
        ("address.full_text", _("Address")),
        ("building", _("Building")),
        ("floor", _("Floor")),
        ("area_m2", _("Floor area (m²)")),
        ("get_use_display", _("Use")),
    ]


class AddressList(ScopedListView):
    selector = selectors.addresses
    title, export_name = _("Standard addresses"), "addresses"
    columns = [
        ("full_text", _("Address")),
        ("grid", _("Grid")),
        ("lat", _("Latitude")),
        ("lng", _("Longitude")),
    ]


class OrganisationList(ScopedListView):
    selector = selectors.organisations
    title, export_name = _("Organisations"), "organisations"
    columns = [
        NAME,
        ("get_kind_display", _("Kind")),
        ("credit_code", _("Credit code")),
        ("grid", _("Grid")),
        ("employees", _("Employees")),
    ]


class DepartmentList(ScopedListView):
    selector = selectors.departments
    title, export_name = _("Departments"), "departments"
    columns = [
        CODE,
        NAME,
        ("get_kind_display", _("Kind")),
        ("district", _("District")),
        ("phone", _("Duty phone")),
    ]


class NodeDetail(ScopedDetailView):
    template_name = "territory/node_detail.html"
    children_selector: Any = None

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        node = self.object
        context["children"] = self.children(node)
        scope = scope_of(self.request.user)
        if scope.sees_records:  # departments see the structure of their district, not its records
            context["figures"] = selectors.figures(self.request.user, node.scope_prefix)
            context["breakdown"] = selectors.breakdown(self.request.user, node)
            context["partial"] = not scope.covers_code(node.code)
        return context

    def children(self, node: Any) -> Any:
        return None


class DistrictDetail(NodeDetail):
    selector = selectors.districts

    def children(self, node):
        return selectors.streets(self.request.user).filter(district=node)


class StreetDetail(NodeDetail):
    selector = selectors.streets

    def children(self, node):
        return selectors.communities(self.request.user, street=node.pk)


class CommunityDetail(NodeDetail):
    selector = selectors.communities

    def children(self, node):
        return selectors.grids_with_counts(self.request.user, node)


class GridDetail(NodeDetail):
    selector = selectors.grids

    def children(self, node):
        return selectors.buildings(self.request.user, grid=node.pk)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from jiedao.territory import grid_io

        context = super().get_context_data(**kwargs)
        context["grid_workers"] = grid_io.grid_workers(self.request.user, self.object)
        return context


class BuildingDetail(ScopedDetailView):
    selector = selectors.buildings
    template_name = "territory/building_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["figures"] = selectors.building_figures(self.request.user, self.object)
        context["dwellings"] = selectors.dwellings(self.request.user, building=self.object.pk)
        return context


class DwellingDetail(ScopedDetailView):
    selector = selectors.dwellings
    template_name = "territory/dwelling_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["households"] = selectors.households(self.request.user, dwelling=self.object.pk)
        context["tenancies"] = selectors.tenancies(self.request.user, dwelling=self.object.pk)
        return context


class OrganisationDetail(ScopedDetailView):
    selector = selectors.organisations
    template_name = "territory/organisation_detail.html"


class DepartmentDetail(ScopedDetailView):
    selector = selectors.departments
    template_name = "territory/department_detail.html"

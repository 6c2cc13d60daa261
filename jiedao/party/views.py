"""Party organisation pages: the tree of the user's territory, one organisation with its
members, its export, and the small forms that set up organisations and keep members."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from jiedao.core.export import audited_xlsx
from jiedao.core.fields import mask
from jiedao.core.permissions import require_perm
from jiedao.core.views_base import show_service_errors
from jiedao.party import selectors, services
from jiedao.party.forms import (
    MemberAddForm,
    MemberMoveForm,
    MemberRemoveForm,
    OrganisationCreateForm,
    OrganisationEditForm,
)
from jiedao.party.models import PARENT_LEVEL, PartyMember

MEMBERS_PER_PAGE = 50
EXPORT_COLUMNS = [
    ("organisation.get_level_display", gettext_lazy("Level")),
    ("organisation.name", gettext_lazy("Name")),
    ("organisation.get_form_display", gettext_lazy("Form")),
    ("organisation.territory_code", gettext_lazy("Territory code")),
    ("organisation.parent.name", gettext_lazy("Higher organisation")),
    ("organisation.secretary", gettext_lazy("Secretary")),
    ("own.counted", gettext_lazy("Members directly")),
    ("total.counted", gettext_lazy("Members in all")),
    ("total.full", gettext_lazy("Full members")),
    ("total.registered", gettext_lazy("Reporting members (双报到)")),
    ("size_form", gettext_lazy("Form the size provides for")),
    ("flag_text", gettext_lazy("Flags")),
    ("citation_text", gettext_lazy("Rule")),
]


@login_required
def tree_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, "party.browse")
    roots = selectors.tree(request.user)
    nodes = selectors.flatten(roots)
    context = {
        "roots": roots,
        "flagged": [node for node in nodes if node.flags],
        "organisation_count": len(nodes),
        "member_count": sum(root.total.counted for root in roots),
        "registered_count": sum(root.total.registered for root in roots),
    }
    return render(request, "party/tree.html", context)


@login_required
def export_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, "party.browse")
    nodes = selectors.flatten(selectors.tree(request.user))
    return audited_xlsx(request, "party-organisations", EXPORT_COLUMNS, nodes)


@login_required
def organisation_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request.user, "party.browse")
    org = selectors.organisation(request.user, pk)
    [node] = selectors.tree(request.user, under=org)
    page = Paginator(selectors.subtree_members(request.user, node), MEMBERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    can_change = request.user.has_perm("party.change", org)
    context = {
        "object": org,
        "node": node,
        "trail": selectors.ancestors(request.user, org),
        "page_obj": page,
        "member_rows": [(m, display_name(request.user, m.person)) for m in page.object_list],
        "chart": selectors.children_chart(node),
        "chart_height": selectors.chart_height(node),
        "can_change": can_change,
        "can_add_child": can_change and bool(selectors.open_child_nodes(org)),
    }
    return render(request, "party/organisation.html", context)


def display_name(user: Any, person: Any) -> str:
    """Names in full for those who may browse the person in the registry, masked otherwise."""
    if user.has_perm("registry.browse", person):
        return person.name
    return mask("name", person.name)


@login_required
def organisation_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Set up a sub-organisation of ``pk`` on one of its child nodes that has none yet."""
    require_perm(request.user, "party.browse")
    parent = selectors.organisation(request.user, pk)
    require_perm(request.user, "party.change", parent)
    nodes = selectors.open_child_nodes(parent)
    child_level = next(level for level, up in PARENT_LEVEL.items() if up == parent.level)
    form = OrganisationCreateForm(request.POST or None, level=child_level, nodes=nodes)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            org = services.create_organisation(
                request.user,
                data["node"],
                data["form"],
                name=data["name"],
                secretary=data["secretary"],
                founded_on=data["founded_on"],
            )
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The organisation was set up."))
            return redirect(org.get_absolute_url())
    context = {"form": form, "parent": parent, "nodes": nodes}
    return render(request, "party/organisation_add.html", context)


@login_required
def organisation_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request.user, "party.browse")
    org = selectors.organisation(request.user, pk)
    require_perm(request.user, "party.change", org)
    form = OrganisationEditForm(request.POST or None, organisation=org)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_organisation(request.user, org, **form.cleaned_data)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The organisation was saved."))
            return redirect(org.get_absolute_url())
    return render(request, "party/organisation_edit.html", {"form": form, "object": org})


@login_required
def member_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request.user, "party.browse")
    org = selectors.organisation(request.user, pk)
    require_perm(request.user, "party.change", org)
    q = request.GET.get("q", "")
    candidates = selectors.candidate_persons(request.user, org, q)
    listed = candidates.select_related("dwelling__building")[: selectors.CANDIDATES_SHOWN]
    shown = [(person, _person_label(request.user, person)) for person in listed]
    form = MemberAddForm(request.POST or None, candidates=candidates, shown=shown)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.add_member(
                request.user,
                org,
                data["person"],
                kind=data["kind"],
                status=data["status"],
                joined_on=data["joined_on"],
            )
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The member was added."))
            return redirect(org.get_absolute_url())
    context = {"form": form, "object": org, "q": q, "shown": shown}
    return render(request, "party/member_add.html", context)


def _person_label(user: Any, person: Any) -> str:
    building = person.dwelling.building.name if person.dwelling_id else ""
    parts = [display_name(user, person), str(person.birth_date.year), building]
    return " · ".join(part for part in parts if part)


def _member(request: HttpRequest, pk: int) -> PartyMember:
    member = get_object_or_404(
        selectors.members(request.user).select_related("person", "organisation"), pk=pk
    )
    require_perm(request.user, "party.change", member.organisation)
    return member


@login_required
def member_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request.user, "party.browse")
    member = _member(request, pk)
    targets = selectors.move_targets(request.user, member)
    context = {
        "member": member,
        "name": display_name(request.user, member.person),
        "move_form": MemberMoveForm(targets=targets),
        "remove_form": MemberRemoveForm(),
    }
    return render(request, "party/member.html", context)


@login_required
@require_POST
def member_move_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request.user, "party.browse")
    member = _member(request, pk)
    form = MemberMoveForm(request.POST, targets=selectors.move_targets(request.user, member))
    if form.is_valid():
        try:
            services.move_member(request.user, member, form.cleaned_data["target"])
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The member was moved."))
            return redirect(member.organisation.get_absolute_url())
    context = {
        "member": member,
        "name": display_name(request.user, member.person),
        "move_form": form,
        "remove_form": MemberRemoveForm(),
    }
    return render(request, "party/member.html", context, status=400)


@login_required
@require_POST
def member_remove_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request.user, "party.browse")
    member = _member(request, pk)
    org = member.organisation
    form = MemberRemoveForm(request.POST)
    if form.is_valid():
        services.remove_member(request.user, member, form.cleaned_data["reason"])
        messages.success(request, _("The member was removed."))
        return redirect(org.get_absolute_url())
    context = {
        "member": member,
        "name": display_name(request.user, member.person),
        "move_form": MemberMoveForm(targets=selectors.move_targets(request.user, member)),
        "remove_form": form,
    }
    return render(request, "party/member.html", context, status=400)

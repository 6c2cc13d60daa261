"""Registry pages: the 人户分离 reconciliation table (per street, community or grid, with charts,
XLSX and the street's buttons) and the grid worker's door-to-door verification worklist.
Figures and writes come from ``jiedao.registry.reconciliation``; these views lay them out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView, View
from rules.contrib.views import PermissionRequiredMixin

from jiedao.core.export import audited_xlsx
from jiedao.core.selectors import visible
from jiedao.registry import reconciliation as rec
from jiedao.registry.models import Person, Residence, Verification
from jiedao.registry.services import masked

# Colours of the classes in the charts (consistent green, mismatches warm, unknown grey).
CLASS_COLOURS = {
    Residence.CONSISTENT: "#2e7d32",
    Residence.LIVES_NOT_REGISTERED: "#1565c0",
    Residence.REGISTERED_NOT_LIVING: "#ef6c00",
    Residence.GONE: "#6d4c41",
    Residence.UNKNOWN: "#9e9e9e",
}
CHART_ROWS = 40  # more bars would be unreadable: the table lists every row
# Who presses "Reconcile now" and "Create verification worklist" (the street's importers).
RUN_PERMISSION = "registry.import"


class PageMixin(PermissionRequiredMixin):
    """A page-level permission; what each user sees is limited by scope in the selectors."""

    request: HttpRequest

    def get_permission_object(self) -> None:
        return None


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}\u00a0%"


def node_from(request: HttpRequest, code: str) -> rec.Node | None:
    """The node named in the request, or None for the top; 404 when unknown or outside."""
    if not code:
        return None
    node = rec.find_node(request.user, code)
    if node is None:
        raise Http404(gettext("No such street, community or grid in your territory."))
    return node


# --- reconciliation -------------------------------------------------------------------------


def bar_chart(rows: list[rec.Counts]) -> str:
    """Persons by class, stacked, one bar per row."""
    shown = rows[:CHART_ROWS]
    option = {
        "grid": {"left": 8, "right": 24, "top": 56, "bottom": 8, "containLabel": True},
        "legend": {"top": 0, "type": "scroll"},  # one line, also on a phone
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "yAxis": {"type": "category", "inverse": True, "data": [row.label for row in shown]},
        "xAxis": {"type": "value", "axisLabel": {"hideOverlap": True}, "splitNumber": 3},
        "series": [
            {
                "type": "bar",
                "stack": "persons",
                "name": str(Residence(key).label),
                "data": [getattr(row, key) for row in shown],
                "itemStyle": {"color": colour},
            }
            for key, colour in CLASS_COLOURS.items()
        ],
    }
    return json.dumps(option, ensure_ascii=False)


def bar_chart_height(rows: list[rec.Counts]) -> int:
    return max(200, 80 + 36 * min(len(rows), CHART_ROWS))


def trend_chart(days: list[rec.Counts]) -> str:
    """The consistent shares of persons and registered households, day by day."""
    option = {
        "grid": {"left": 8, "right": 24, "top": 56, "bottom": 8, "containLabel": True},
        "legend": {"top": 0, "type": "scroll"},  # one line, also on a phone
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [day.code for day in days]},
        "yAxis": {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {
                "type": "line",
                "name": gettext("Persons registered and living here (人户一致)"),
                "data": [day.consistent_rate for day in days],
                "itemStyle": {"color": CLASS_COLOURS[Residence.CONSISTENT]},
            },
            {
                "type": "line",
                "name": gettext("Consistent registered households"),
                "data": [day.household_rate for day in days],
                "itemStyle": {"color": "#0b3d91"},
            },
        ],
    }
    return json.dumps(option, ensure_ascii=False)


def class_columns() -> list[tuple[str, Any]]:
    return [(key, Residence(key).label) for key in rec.CLASSES]


def table_row(row: rec.Counts) -> dict[str, Any]:
    return {
        "code": row.code,
        "label": row.label,
        "registered_households": row.registered_households,
        "consistent_households": row.consistent_households,
        "household_rate": percent(row.household_rate),
        "residing_households": row.residing_households,
        "persons": row.persons,
        "classes": [
            (Residence(key).label, getattr(row, key), percent(row.share(key)))
            for key in rec.CLASSES
        ],
    }


class ReconciliationPage(PageMixin, TemplateView):
    """Counts per child node of the chosen node (?node=<code>), charts and trend."""

    permission_required = "registry.browse"
    template_name = "registry/reconciliation.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        report = rec.report(user, node_from(self.request, self.request.GET.get("node", "")))
        node = report.node
        context.update(
            report=report,
            rows=[table_row(row) for row in report.rows],
            total=table_row(report.total),
            class_columns=class_columns(),
            bar_chart=bar_chart(report.rows),
            bar_chart_height=bar_chart_height(report.rows),
            trend_chart=trend_chart(report.trend),
            may_run=node is not None and user.has_perm(RUN_PERMISSION, node),
            node_code=node.code if node is not None else "",
            level_label=LEVEL_LABELS[report.level],
        )
        return context


LEVEL_LABELS = {rec.STREET: _("Street"), rec.COMMUNITY: _("Community"), rec.GRID: _("Grid")}


class ReconciliationExport(PageMixin, View):
    """The page's table as XLSX, with the total row; audited like every export."""

    permission_required = "registry.browse"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        report = rec.report(request.user, node_from(request, request.GET.get("node", "")))
        total = report.total
        total.label = gettext("Total")
        columns: list[tuple[str, Any]] = [
            ("label", LEVEL_LABELS[report.level]),
            ("code", _("code")),
            ("registered_households", _("Registered households")),
            ("consistent_households", _("Consistent registered households")),
            ("household_rate", _("Consistent households (%)")),
            ("residing_households", _("Residing households")),
            ("persons", _("Persons")),
        ]
        for key, label in class_columns():
            columns.append((key, label))
            columns.append((f"{key}_rate", gettext("%(label)s (%%)") % {"label": label}))
        rows = [export_row(row) for row in [*report.rows, total]]
        return audited_xlsx(request, "reconciliation", columns, rows)


def export_row(row: rec.Counts) -> SimpleNamespace:
    values: dict[str, Any] = {
        "label": row.label,
        "code": row.code,
        "registered_households": row.registered_households,
        "consistent_households": row.consistent_households,
        "household_rate": row.household_rate,
        "residing_households": row.residing_households,
        "persons": row.persons,
    }
    for key in rec.CLASSES:
        values[key] = getattr(row, key)
        values[f"{key}_rate"] = row.share(key)
    return SimpleNamespace(**values)


class NodeActionView(PageMixin, View):
    """A POST button on the reconciliation page, for one node the user may run it on."""

    permission_required = RUN_PERMISSION

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        node = node_from(request, request.POST.get("node", ""))
        if node is None:
            raise Http404(gettext("Choose a street, community or grid."))
        if not request.user.has_perm(RUN_PERMISSION, node):
            raise PermissionDenied
        self.act(node)
        return redirect(f"{reverse('registry:reconciliation')}?node={node.code}")

    def act(self, node: rec.Node) -> None:
        raise NotImplementedError


class ReconcileNow(NodeActionView):
    def act(self, node: rec.Node) -> None:
        result = rec.reconcile_now(self.request.user, node.scope_prefix)
        changed = result["changed"]
        messages.success(
            self.request,
            ngettext(
                "Reconciled %(node)s: %(changed)d person changed class; today's figures are saved.",
                "Reconciled %(node)s: %(changed)d persons changed class; today's figures are saved.",
                changed,
            )
            % {"node": node.name, "changed": changed},
        )


class CreateWorklist(NodeActionView):
    def act(self, node: rec.Node) -> None:
        opened = rec.open_verifications(node.scope_prefix, actor=self.request.user)
        messages.success(
            self.request,
            ngettext(
                "%(n)d person of %(node)s was put on the grid workers' worklists.",
                "%(n)d persons of %(node)s were put on the grid workers' worklists.",
                opened,
            )
            % {"n": opened, "node": node.name},
        )


# --- verification ---------------------------------------------------------------------------


@dataclass
class Item:
    """One verification as a grid worker sees it: masked personal data, where to knock."""

    verification: Verification
    person: Person
    identity: str
    phone: str

    @property
    def lives_at(self) -> Any:
        return self.person.dwelling

    @property
    def registered_at(self) -> Any:
        return self.person.registered_dwelling

    @property
    def changed_since(self) -> bool:
        return self.person.residence != self.verification.found


def item(verification: Verification) -> Item:
    person = verification.person
    return Item(verification, person, masked(person, "identity_number"), masked(person, "phone"))


class WorklistPage(PageMixin, TemplateView):
    """The open verifications of the user's grid(s), in walking order, phone first."""

    permission_required = "registry.verify"
    template_name = "registry/verify_list.html"
    paginate_by = 20

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = Paginator(rec.worklist(self.request.user), self.paginate_by).get_page(
            self.request.GET.get("page")
        )
        context.update(page_obj=page, items=[item(v) for v in page.object_list])
        return context


RESULT_CHOICES = [(key, Residence(key).label) for key in rec.RESULTS]


class VerificationForm(forms.Form):
    result = forms.ChoiceField(
        label=_("What did you find at the door?"),
        choices=RESULT_CHOICES,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose what you found at the door.")},
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Who you spoke to, where the person lives or is registered now."),
    )


class VerifyPage(PageMixin, View):
    """Record the door-to-door result of one verification."""

    permission_required = "registry.verify"
    template_name = "registry/verify_form.html"

    def verification(self) -> Verification:
        rows = visible(Verification, self.request.user).select_related(
            "person__dwelling__address",
            "person__registered_dwelling__address",
            "verified_by",
        )
        found = get_object_or_404(rows, pk=self.kwargs["pk"])
        if not self.request.user.has_perm("registry.verify", found.person):
            raise PermissionDenied
        return found

    def render_page(
        self, verification: Verification, form: VerificationForm | None, status: int = 200
    ) -> HttpResponse:
        context = {
            "item": item(verification),
            "form": form,
            "closed": verification.state != Verification.State.OPEN,
            "closed_note": closed_note(verification),
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        verification = self.verification()
        open_now = verification.state == Verification.State.OPEN
        return self.render_page(verification, VerificationForm() if open_now else None)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        verification = self.verification()
        form = VerificationForm(request.POST)
        if not form.is_valid():
            return self.render_page(verification, form, status=400)
        try:
            rec.record_verification(
                request.user, verification, form.cleaned_data["result"], form.cleaned_data["note"]
            )
        except rec.VerificationClosed as closed:
            return self.render_page(closed.verification, None, status=409)
        except ValidationError as error:
            form.add_error(None, error)
            return self.render_page(verification, form, status=400)
        messages.success(
            request,
            gettext("Recorded for %(name)s: %(result)s.")
            % {
                "name": verification.person.name,
                "result": Residence(form.cleaned_data["result"]).label,
            },
        )
        return redirect("registry:worklist")


def closed_note(verification: Verification) -> str:
    if verification.state == Verification.State.OPEN:
        return ""
    when = timezone.localtime(verification.verified_at) if verification.verified_at else None
    return gettext(
        "This verification was already recorded by %(who)s on %(when)s: %(result)s. "
        "Nothing was changed."
    ) % {
        "who": verification.verified_by or gettext("someone"),
        "when": when.strftime("%Y-%m-%d %H:%M") if when else "—",
        "result": verification.get_result_display() or "—",
    }


urlpatterns: list[URLPattern] = [
    path("reconciliation/", ReconciliationPage.as_view(), name="reconciliation"),
    path("reconciliation/export/", ReconciliationExport.as_view(), name="reconciliation_export"),
    path("reconciliation/run/", ReconcileNow.as_view(), name="reconciliation_run"),
    path("reconciliation/worklist/", CreateWorklist.as_view(), name="reconciliation_worklist"),
    path("verify/", WorklistPage.as_view(), name="worklist"),
    path("verify/<int:pk>/", VerifyPage.as_view(), name="verify"),
]

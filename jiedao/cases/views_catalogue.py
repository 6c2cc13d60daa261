"""The street's own pages for the case catalogue and the routing rule table (domain.md §3): the
category tree (大类 → 小类) with its deadlines and extra questions, the routing rules with the
order in which they win, and a preview of where a case would go. Writes go through
``catalogue_services``; a bad form shows each error next to its field and changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import ListView
from rules.contrib.views import PermissionRequiredMixin

from jiedao.cases import catalogue_services as services
from jiedao.cases import routing
from jiedao.cases.models import DEPARTMENT_HANDLERS, Category, HandlerType, RoutingRule
from jiedao.core.export import ExportMixin
from jiedao.core.permissions import require_perm
from jiedao.territory.models import Community, Department, Grid

VIEW_PERM = "cases.view_catalogue"
LEVEL_LABELS = {
    "": gettext_lazy("Everywhere"),
    "district": gettext_lazy("District"),
    "street": gettext_lazy("Street"),
    "community": gettext_lazy("Community"),
    "grid": gettext_lazy("Grid"),
}
CATEGORY_RANK_LABELS = {
    2: gettext_lazy("subcategory (小类)"),
    1: gettext_lazy("main category (大类)"),
    0: gettext_lazy("every category"),
}


def _grouped(places: list[tuple[str, str, str]]) -> list[tuple[Any, Any]]:
    """Select choices grouped by level (optgroups), each place as "name (code)"."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for code, name, level in places:
        label = name if not code else f"{name} ({code})"
        groups.setdefault(level, []).append((code, label))
    choices: list[tuple[Any, Any]] = list(groups.pop("", []))
    for level in ("district", "street", "community", "grid"):
        if level in groups:
            choices.append((LEVEL_LABELS[level], groups[level]))
    return choices


class TreeChoiceField(forms.ModelChoiceField):
    """Categories as a tree: each 小类 indented under its 大类."""

    def label_from_instance(self, obj: Any) -> str:
        indent = "\u3000" if obj.parent_id else ""
        inactive = "" if obj.active else _(" (inactive)")
        return f"{indent}{obj.code} {obj.name}{inactive}"


# --- Categories ------------------------------------------------------------------------------


class CategoryForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        choices=[
            ("main", gettext_lazy("Main category (大类)")),
            ("sub", gettext_lazy("Subcategory (小类): cases are filed under these")),
        ],
        widget=forms.RadioSelect,
    )
    parent = TreeChoiceField(
        label=gettext_lazy("Main category (大类)"),
        queryset=Category.objects.none(),
        required=False,
        empty_label="—",
        help_text=gettext_lazy("Only for a subcategory."),
    )
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=16,
        help_text=gettext_lazy(
            "Letters or digits. A subcategory's code starts with its main category's code "
            "(B0101 under B01). Other systems (Open311 service_code) know a category by it."
        ),
    )
    name = forms.CharField(label=gettext_lazy("Name"), max_length=60)
    handler_type = forms.ChoiceField(
        label=gettext_lazy("Default handler type"),
        choices=HandlerType.choices,
        help_text=gettext_lazy("Who handles a case when no routing rule applies."),
    )
    deadline_days = forms.IntegerField(
        label=gettext_lazy("Working days to resolve"),
        widget=forms.NumberInput(attrs={"min": 1, "max": 60}),
        help_text=gettext_lazy("1 to 60 working days; usually 5."),
    )
    urgent_deadline_days = forms.IntegerField(
        label=gettext_lazy("Working days to resolve when urgent"),
        widget=forms.NumberInput(attrs={"min": 1, "max": 60}),
        help_text=gettext_lazy("At most the normal deadline; usually 1."),
    )
    extended_deadline_days = forms.IntegerField(
        label=gettext_lazy("Working days to resolve with an approved extension"),
        widget=forms.NumberInput(attrs={"min": 1, "max": 60}),
        help_text=gettext_lazy("At least the normal deadline; usually 15."),
    )
    acknowledge_minutes = forms.IntegerField(
        label=gettext_lazy("Minutes to acknowledge"),
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text=gettext_lazy("Usually 120 (2 hours)."),
    )
    urgent_acknowledge_minutes = forms.IntegerField(
        label=gettext_lazy("Minutes to acknowledge when urgent"),
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text=gettext_lazy("Usually 30."),
    )
    contact_hours = forms.IntegerField(
        label=gettext_lazy("Hours to contact the caller"),
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text=gettext_lazy("Usually 24."),
    )
    active = forms.BooleanField(
        label=gettext_lazy("Active: new cases may be filed under it"), required=False
    )
    attributes = forms.CharField(
        label=gettext_lazy("Extra questions (Open311 attributes, JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "mono"}),
        help_text=gettext_lazy(
            'A JSON list of GeoReport v2 attributes, for example [{"code": "depth", '
            '"datatype": "number", "description": "积水深度（厘米）", "required": false, '
            '"variable": true, "order": 1}]. List questions (singlevaluelist, multivaluelist) '
            'add "values": [{"key": "1", "name": "…"}]. Leave empty for none.'
        ),
    )

    def __init__(self, *args: Any, category: Category, **kwargs: Any) -> None:
        if category.pk:
            kwargs.setdefault("initial", _category_initial(category))
        super().__init__(*args, **kwargs)
        parents = services.main_categories()
        if category.pk:
            parents = parents.exclude(pk=category.pk)
        self.fields["parent"].queryset = parents  # type: ignore[attr-defined]

    def clean_attributes(self) -> Any:
        text = (self.cleaned_data.get("attributes") or "").strip()
        if not text:
            return []
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                _("This is not valid JSON (line %(line)s, column %(column)s: %(reason)s).")
                % {"line": exc.lineno, "column": exc.colno, "reason": exc.msg}
            ) from exc

    def apply_to(self, category: Category) -> bool:
        """Copy the answers onto the category; True for a 大类."""
        data = self.cleaned_data
        is_main = data["kind"] == "main"
        for name in (
            "code",
            "name",
            "handler_type",
            "deadline_days",
            "urgent_deadline_days",
            "extended_deadline_days",
            "acknowledge_minutes",
            "urgent_acknowledge_minutes",
            "contact_hours",
            "active",
            "attributes",
        ):
            setattr(category, name, data[name])
        category.code = category.code.strip()
        category.name = category.name.strip()
        category.parent = data["parent"]
        return is_main


def _category_initial(category: Category) -> dict[str, Any]:
    return {
        "kind": "main" if category.is_main else "sub",
        "parent": category.parent_id,
        "code": category.code,
        "name": category.name,
        "handler_type": category.handler_type,
        "deadline_days": category.deadline_days,
        "urgent_deadline_days": category.urgent_deadline_days,
        "extended_deadline_days": category.extended_deadline_days,
        "acknowledge_minutes": category.acknowledge_minutes,
        "urgent_acknowledge_minutes": category.urgent_acknowledge_minutes,
        "contact_hours": category.contact_hours,
        "active": category.active,
        "attributes": json.dumps(category.attributes, ensure_ascii=False, indent=2)
        if category.attributes
        else "",
    }


class CategoryListView(PermissionRequiredMixin, ExportMixin, ListView):
    permission_required = VIEW_PERM
    export_name = "case-categories"
    columns = [
        ("code", gettext_lazy("Code")),
        ("name", gettext_lazy("Name")),
        ("parent.code", gettext_lazy("Main category code")),
        ("parent.name", gettext_lazy("Main category")),
        ("get_handler_type_display", gettext_lazy("Default handler type")),
        ("deadline_days", gettext_lazy("Working days to resolve")),
        ("urgent_deadline_days", gettext_lazy("Urgent (working days)")),
        ("extended_deadline_days", gettext_lazy("Extended (working days)")),
        ("acknowledge_minutes", gettext_lazy("Minutes to acknowledge")),
        ("urgent_acknowledge_minutes", gettext_lazy("Urgent (minutes)")),
        ("contact_hours", gettext_lazy("Hours to contact the caller")),
        ("active", gettext_lazy("Active")),
    ]

    def get_permission_object(self) -> None:
        return None

    def get_queryset(self) -> QuerySet[Category]:
        main = self.request.GET.get("main", "")
        return services.categories(
            q=self.request.GET.get("q", "").strip(),
            active=self.request.GET.get("active", ""),
            main=int(main) if main.isdigit() else None,
        )

    def get_template_names(self) -> list[str]:
        htmx = getattr(self.request, "htmx", None)
        if htmx and not htmx.history_restore_request:
            return ["cases/catalogue/_category_table.html"]
        return ["cases/catalogue/category_list.html"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            title=_("Case categories"),
            q=self.request.GET.get("q", ""),
            active=self.request.GET.get("active", ""),
            main=self.request.GET.get("main", ""),
            main_categories=services.main_categories(),
            can_edit=self.request.user.has_perm("cases.edit_catalogue"),
            tab="categories",
        )
        return context


def _category_page(request: HttpRequest, category: Category) -> HttpResponse:
    """The form for a new or an existing category: validate, save, or show every error."""
    require_perm(request.user, "cases.edit_catalogue")
    form = CategoryForm(request.POST or None, category=category)
    title = str(category) if category.pk else _("New case category")
    in_use = services.category_in_use(category)
    if request.method == "POST" and form.is_valid():
        is_main = form.apply_to(category)
        try:
            deactivated = services.save_category(request.user, category, is_main=is_main)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Saved: %(category)s.") % {"category": category})
            if deactivated:
                messages.success(
                    request,
                    _("Its %(n)s subcategories were deactivated too.") % {"n": len(deactivated)},
                )
            return redirect("cases:category_list")
    context = {"form": form, "category": category, "title": title, "in_use": in_use}
    return render(request, "cases/catalogue/category_form.html", context)


@login_required
def category_new(request: HttpRequest) -> HttpResponse:
    return _category_page(request, Category())


@login_required
def category_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _category_page(request, get_object_or_404(Category, pk=pk))


@login_required
def category_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete an unused category; one that cases or subcategories use is deactivated instead."""
    require_perm(request.user, "cases.edit_catalogue")
    category = get_object_or_404(Category, pk=pk)
    in_use = services.category_in_use(category) or category.children.exists()
    if request.method == "POST":
        name = str(category)
        try:
            removal = services.delete_category(request.user, category)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("cases:category_edit", pk=pk)
        if removal.deleted:
            messages.success(request, _("Deleted: %(category)s.") % {"category": name})
        else:
            messages.success(
                request,
                _("%(category)s is in use, so it was deactivated instead of deleted.")
                % {"category": name},
            )
        return redirect("cases:category_list")
    rules_count = category.routing_rules.count()
    context = {"category": category, "in_use": in_use, "rules_count": rules_count}
    return render(request, "cases/catalogue/category_delete.html", context)


# --- Routing rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRow:
    """One rule as the list shows it: its place by name and why it ranks where it does."""

    rule: RoutingRule
    place: str
    level: Any
    category_kind: Any
    can_edit: bool


class RoutingFilterForm(forms.Form):
    territory = forms.ChoiceField(label=gettext_lazy("Place"), required=False)
    category = TreeChoiceField(
        label=gettext_lazy("Category"),
        queryset=Category.objects.none(),
        required=False,
        empty_label=gettext_lazy("Any category"),
    )

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        places = [("", _("Anywhere"), ""), *services.visible_places(actor)]
        self.fields["territory"].choices = _grouped(places)  # type: ignore[attr-defined]
        self.fields["category"].queryset = services.categories()  # type: ignore[attr-defined]


class RoutingListView(PermissionRequiredMixin, ExportMixin, ListView):
    permission_required = VIEW_PERM
    template_name = "cases/catalogue/routing_list.html"
    export_name = "routing-rules"
    columns = [
        ("category_kind", gettext_lazy("Category matches")),
        ("level", gettext_lazy("Place level")),
        ("rule.category", gettext_lazy("Category")),
        ("rule.territory_code", gettext_lazy("Place code")),
        ("place", gettext_lazy("Place")),
        ("rule.get_handler_type_display", gettext_lazy("Handler type")),
        ("rule.department", gettext_lazy("Department")),
        ("rule.note", gettext_lazy("Note")),
    ]

    def get_permission_object(self) -> None:
        return None

    def get_queryset(self) -> list[RuleRow]:  # type: ignore[override]
        self.filter_form = RoutingFilterForm(self.request.GET or None, actor=self.request.user)
        territory, category = "", None
        if self.filter_form.is_valid():
            territory = self.filter_form.cleaned_data["territory"]
            category = self.filter_form.cleaned_data["category"]
        rules = services.routing_rules(self.request.user, territory=territory, category=category)
        names = services.place_names({r.territory_code for r in rules if r.territory_code})
        user = self.request.user
        return [
            RuleRow(
                rule=rule,
                place=names.get(rule.territory_code, rule.territory_code) or _("everywhere"),
                level=LEVEL_LABELS[services.level_of(rule.territory_code)],
                category_kind=CATEGORY_RANK_LABELS[routing.category_rank(rule)],
                can_edit=user.has_perm("cases.edit_routing", rule),
            )
            for rule in rules
        ]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            title=_("Routing rules"),
            filter_form=self.filter_form,
            can_add=self.request.user.has_perm("cases.edit_routing"),
            tab="routing",
        )
        return context


class RoutingRuleForm(forms.Form):
    category = TreeChoiceField(
        label=gettext_lazy("Category"),
        queryset=Category.objects.none(),
        required=False,
        empty_label=gettext_lazy("Every category"),
        help_text=gettext_lazy(
            "A subcategory (小类), a main category (大类: covers its subcategories) or every "
            "category."
        ),
    )
    territory_code = forms.ChoiceField(
        label=gettext_lazy("Place"),
        required=False,
        error_messages={
            "invalid_choice": gettext_lazy(
                "You may not set rules for this place: choose one from the list (places "
                "outside your territory are not offered)."
            )
        },
        help_text=gettext_lazy("The district, street, community or grid the rule is for."),
    )
    handler_type = forms.ChoiceField(
        label=gettext_lazy("Handler type"), choices=HandlerType.choices
    )
    department = forms.ModelChoiceField(
        label=gettext_lazy("Department"),
        queryset=Department.all_objects.none(),
        required=False,
        empty_label="—",
        error_messages={
            "invalid_choice": gettext_lazy(
                "Choose a department of the place's district from the list."
            )
        },
        help_text=gettext_lazy(
            "Required for a district department or a utility, and only for them; it must "
            "belong to the place's district."
        ),
    )
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)

    def __init__(self, *args: Any, actor: Any, rule: RoutingRule, **kwargs: Any) -> None:
        if rule.pk:
            kwargs.setdefault(
                "initial",
                {
                    "category": rule.category_id,
                    "territory_code": rule.territory_code,
                    "handler_type": rule.handler_type,
                    "department": rule.department_id,
                    "note": rule.note,
                },
            )
        super().__init__(*args, **kwargs)
        places = services.editable_places(actor)
        self.allowed_codes = {code for code, _name, _level in places}
        if rule.pk and rule.territory_code not in self.allowed_codes:  # e.g. a retired grid
            self.allowed_codes.add(rule.territory_code)
            places.append((rule.territory_code, services.place_label(rule.territory_code), ""))
        if "" not in self.allowed_codes:
            places.insert(0, ("", "—", ""))
        self.fields["territory_code"].choices = _grouped(places)  # type: ignore[attr-defined]
        self.fields["category"].queryset = services.categories()  # type: ignore[attr-defined]
        self.fields["department"].queryset = services.departments_for(actor)  # type: ignore[attr-defined]

    def clean_territory_code(self) -> str:
        code = self.cleaned_data.get("territory_code") or ""
        if code not in self.allowed_codes:
            if not code:
                raise ValidationError(
                    _(
                        "Choose a district, street, community or grid: only the district "
                        "administration sets rules for everywhere."
                    )
                )
            raise ValidationError(self.fields["territory_code"].error_messages["invalid_choice"])
        return code

    def apply_to(self, rule: RoutingRule) -> None:
        data = self.cleaned_data
        rule.category = data["category"]
        rule.territory_code = data["territory_code"]
        rule.handler_type = data["handler_type"]
        rule.department = data["department"]
        rule.note = data["note"].strip()


def _rule_summary(rule: RoutingRule) -> str:
    category = rule.category or _("Every category")
    place = services.place_label(rule.territory_code)
    return f"{category} · {place} → {rule.get_handler_type_display()}"


def _routing_page(request: HttpRequest, rule: RoutingRule) -> HttpResponse:
    require_perm(request.user, "cases.edit_routing", rule if rule.pk else None)
    summary = _rule_summary(rule) if rule.pk else ""  # as stored, before the form changes it
    form = RoutingRuleForm(request.POST or None, actor=request.user, rule=rule)
    if request.method == "POST" and form.is_valid():
        form.apply_to(rule)
        try:
            services.save_routing_rule(request.user, rule)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Saved the routing rule."))
            return redirect(reverse("cases:routing_list"))
    context = {
        "form": form,
        "rule": rule,
        "summary": summary,
        "title": _("Change a routing rule") if rule.pk else _("New routing rule"),
        "department_handlers": sorted(DEPARTMENT_HANDLERS),
    }
    return render(request, "cases/catalogue/routing_form.html", context)


@login_required
def routing_new(request: HttpRequest) -> HttpResponse:
    return _routing_page(request, RoutingRule())


@login_required
def routing_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule.objects.select_related("category", "department"), pk=pk)
    return _routing_page(request, rule)


@login_required
def routing_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule.objects.select_related("category", "department"), pk=pk)
    require_perm(request.user, "cases.edit_routing", rule)
    if request.method == "POST":
        services.delete_routing_rule(request.user, rule)
        messages.success(request, _("Deleted the routing rule."))
        return redirect("cases:routing_list")
    place = services.place_label(rule.territory_code)
    return render(request, "cases/catalogue/routing_delete.html", {"rule": rule, "place": place})


# --- Route preview ---------------------------------------------------------------------------


class PreviewForm(forms.Form):
    category = TreeChoiceField(
        label=gettext_lazy("Subcategory (小类)"),
        queryset=Category.objects.none(),
        empty_label="—",
    )
    place = forms.ChoiceField(
        label=gettext_lazy("Grid or community"),
        error_messages={
            "invalid_choice": gettext_lazy("Choose a grid or community from the list.")
        },
    )

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        subcategories = services.categories().filter(parent__isnull=False)
        self.fields["category"].queryset = subcategories  # type: ignore[attr-defined]
        places = [("", "—", ""), *services.visible_places(actor, (Community, Grid))]
        self.fields["place"].choices = _grouped(places)  # type: ignore[attr-defined]


@login_required
def route_preview(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, VIEW_PERM)
    form = PreviewForm(request.GET or None, actor=request.user)
    preview = None
    if form.is_valid():
        preview = services.explain_route(form.cleaned_data["category"], form.cleaned_data["place"])
    context = {
        "form": form,
        "preview": preview,
        "title": _("Where would a case go?"),
        "tab": "preview",
        "place_name": services.place_label(preview.place) if preview else "",
        "unit_name": services.place_label(preview.unit_code)
        if preview and preview.unit_code
        else "",
        "level_labels": LEVEL_LABELS,
        "rank_labels": CATEGORY_RANK_LABELS,
        "is_department": bool(preview and preview.route.handler_type in DEPARTMENT_HANDLERS),
    }
    return render(request, "cases/catalogue/route_preview.html", context)


urlpatterns: list[URLPattern] = [
    path("catalogue/categories/", CategoryListView.as_view(), name="category_list"),
    path("catalogue/categories/new/", category_new, name="category_new"),
    path("catalogue/categories/<int:pk>/", category_edit, name="category_edit"),
    path("catalogue/categories/<int:pk>/delete/", category_delete, name="category_delete"),
    path("catalogue/routing/", RoutingListView.as_view(), name="routing_list"),
    path("catalogue/routing/new/", routing_new, name="routing_new"),
    path("catalogue/routing/preview/", route_preview, name="route_preview"),
    path("catalogue/routing/<int:pk>/", routing_edit, name="routing_edit"),
    path("catalogue/routing/<int:pk>/delete/", routing_delete, name="routing_delete"),
]

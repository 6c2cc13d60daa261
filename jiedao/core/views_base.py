"""Thin list and detail views over selectors: search, pagination, XLSX export, scope by construction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.views.generic import DetailView, ListView
from rules.contrib.views import PermissionRequiredMixin

from jiedao.core.export import ExportMixin


class StaffOnlyMixin(PermissionRequiredMixin):
    """Territory pages are for staff; what each sees is limited by the selectors' scope."""

    permission_required = "territory.browse"
    request: HttpRequest

    def get_permission_object(self) -> None:
        return None  # a page-level permission; the selectors' scope decides about objects


class ScopedListView(StaffOnlyMixin, ExportMixin, ListView):
    """``selector(actor, q=..., **filters)`` returns the rows; ``columns`` drives table and export."""

    selector: Callable[..., QuerySet]
    filters: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()  # heavy columns a list does not show (boundaries)
    paginate_by = 50
    title: Any = ""

    def get_queryset(self) -> QuerySet:
        raw = {name: self.request.GET.get(name, "") for name in self.filters}
        params = {name: int(value) for name, value in raw.items() if value.isdigit()}
        rows = type(self).selector(self.request.user, q=self.request.GET.get("q", ""), **params)
        return rows.defer(*self.deferred) if self.deferred else rows

    def get_template_names(self) -> list[str]:
        htmx = self.request.htmx  # type: ignore[attr-defined]
        if htmx and not htmx.history_restore_request:
            return ["core/_table.html"]
        return ["core/list.html"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(title=self.title, columns=self.columns, q=self.request.GET.get("q", ""))
        return context


class ScopedDetailView(StaffOnlyMixin, DetailView):
    selector: Callable[..., QuerySet]
    slug_field = "code"
    slug_url_kwarg = "code"

    def get_object(self, queryset: QuerySet | None = None) -> Any:
        rows = type(self).selector(self.request.user)
        lookup = (
            {self.slug_field: self.kwargs[self.slug_url_kwarg]}
            if self.slug_url_kwarg in self.kwargs
            else {"pk": self.kwargs["pk"]}
        )
        return get_object_or_404(rows, **lookup)


def parse_id(raw: object) -> int | None:
    """A primary key from a query or form value; None for anything else (``"²".isdigit()`` is
    true but ``int("²")`` fails, and a 30-digit number overflows the database)."""
    text = str(raw or "")
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def show_service_errors(form: Any, error: ValidationError) -> None:
    """A service's refusal on the form: on its field when the form has one, else on top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)

"""Case metrics pages: the staff dashboard (/cases/metrics/), its XLSX export, and the public
monthly league tables of streets and departments (/cases/league/). Figures come from
``jiedao.cases.metrics``; these views only read the filters and lay the rows out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView, View

from jiedao.cases import metrics
from jiedao.cases.metrics import SCORE, Dimension, Measure, MetricRow, Period
from jiedao.core.export import audited_xlsx
from jiedao.core.views_base import StaffOnlyMixin

EARLIEST = date(2000, 1, 1)


class SortedForm(forms.Form):
    """The column a table is sorted by and the direction (links in the table headings)."""

    sort = forms.CharField(label=_("Sort"), required=False, widget=forms.HiddenInput)
    dir = forms.ChoiceField(
        label=_("Order"),
        required=False,
        choices=[("asc", "asc"), ("desc", "desc")],
        widget=forms.HiddenInput,
    )


class MetricsFilterForm(SortedForm):
    """The period (one month, or a date range; default the last 12 months), the grouping and the
    table's sort. Invalid filters are reported and the defaults are shown instead."""

    month = forms.DateField(
        label=_("Month"),
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )
    date_from = forms.DateField(
        label=_("First day"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("Last day"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    group = forms.ChoiceField(
        label=_("Group by"),
        required=False,
        choices=[(d.key, d.label) for d in metrics.DIMENSIONS],
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        month, start, end = data.get("month"), data.get("date_from"), data.get("date_to")
        if month and (start or end):
            raise forms.ValidationError(_("Choose a month or a date range, not both."))
        if (start or end) and not (start and end):
            raise forms.ValidationError(_("Give both the first and the last day of the range."))
        for day in (month, start, end):
            if day and not EARLIEST <= day <= timezone.localdate() + timedelta(days=366):
                raise forms.ValidationError(_("Choose dates between 2000 and next year."))
        if start and end and start > end:
            raise forms.ValidationError(_("The first day must not be after the last day."))
        sort = data.get("sort") or ""
        dimension = metrics.DIMENSION_BY_KEY.get(data.get("group") or metrics.DEFAULT_DIMENSION)
        if sort and dimension and sort not in _sort_keys(dimension):
            self.add_error("sort", _("The table cannot be sorted by that column."))
        return data

    def _valid_data(self) -> dict[str, Any]:
        """The fields that passed: a bad sort keeps the period, a bad period keeps the sort."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return getattr(self, "cleaned_data", {})

    def dimension(self) -> Dimension:
        key = self._valid_data().get("group") or metrics.DEFAULT_DIMENSION
        return metrics.DIMENSION_BY_KEY[key]

    def period(self) -> Period:
        data = self._valid_data()
        if self.is_bound and self.non_field_errors():
            return Period.last_months(12)
        if month := data.get("month"):
            return Period.of_month(month.year, month.month)
        if data.get("date_from") and data.get("date_to"):
            return Period(data["date_from"], data["date_to"])
        return Period.last_months(12)

    def sorting(self) -> tuple[str, bool]:
        data = self._valid_data()
        return data.get("sort") or "", data.get("dir") != "asc"


def _with_default_group(params: QueryDict) -> QueryDict:
    """The filters as given, with the default grouping when none is chosen (so the form shows
    the grouping the page uses)."""
    params = params.copy()
    if not params.get("group"):
        params["group"] = metrics.DEFAULT_DIMENSION
    return params


def _sort_keys(dimension: Dimension) -> set[str]:
    return {"label"} | {m.key for m in metrics.measures_for(dimension)}


@dataclass(frozen=True)
class Column:
    """A table heading: its sort link and its ``aria-sort`` state."""

    key: str
    label: Any
    definition: Any
    query: str
    aria_sort: str
    numeric: bool


def columns(
    request: HttpRequest,
    measures: tuple[Measure, ...],
    first: tuple[str, Any],
    sort: str,
    descending: bool,
) -> list[Column]:
    """Headings whose links sort by the column (a second click reverses the direction)."""
    result = []
    heads: list[tuple[str, Any, Any, bool]] = [(first[0], first[1], "", False)]
    heads += [(m.key, m.label, m.definition, True) for m in measures]
    for key, label, definition, numeric in heads:
        current = key == sort
        direction = ("asc" if descending else "desc") if current else ("desc" if numeric else "asc")
        query = _query_with(request.GET, sort=key, dir=direction)
        state = ("descending" if descending else "ascending") if current else ""
        result.append(Column(key, label, definition, query, state, numeric))
    return result


def _query_with(params: QueryDict, **changes: str) -> str:
    query = params.copy()
    for key, value in changes.items():
        query[key] = value
    return query.urlencode()


def table_rows(rows: list[MetricRow], measures: tuple[Measure, ...]) -> list[dict[str, Any]]:
    return [
        {
            "label": row.label,
            "rank": row.rank,
            "cells": [metrics.display(m, row.value(m.key)) for m in measures],
        }
        for row in rows
    ]


def figure_cards(total: MetricRow) -> list[dict[str, Any]]:
    cards = []
    for measure in metrics.MEASURES:
        base = ""
        if measure.denominator:
            base = gettext("%(numerator)s of %(denominator)s") % {
                "numerator": f"{total.counts.get(measure.numerator) or 0:,}",
                "denominator": f"{total.counts.get(measure.denominator) or 0:,}",
            }
        cards.append(
            {
                "key": measure.key,
                "label": measure.label,
                "definition": measure.definition,
                "display": metrics.display(measure, total.value(measure.key)),
                "base": base,
            }
        )
    return cards


class MetricsPage(StaffOnlyMixin, TemplateView):
    """Figures, the monthly trend, a chart and a sortable table for one grouping, over the cases
    the signed-in staff member may see."""

    template_name = "cases/metrics/index.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = MetricsFilterForm(_with_default_group(self.request.GET))
        dimension, period = form.dimension(), form.period()
        sort, descending = form.sorting()
        result = metrics.report(self.request.user, period, dimension, sort, descending)
        sort, descending = (sort, descending) if sort else dimension.default_sort
        first = ("label", dimension.label)
        context.update(
            form=form,
            report=result,
            period=period,
            dimension=dimension,
            cards=figure_cards(result.totals),
            columns=columns(self.request, result.measures, first, sort, descending),
            rows=table_rows(result.rows, result.measures),
            total_cells=[
                metrics.display(m, result.totals.value(m.key)) if m in metrics.MEASURES else ""
                for m in result.measures
            ],
            trend_chart=metrics.trend_chart(result.trend),
            bar_chart=metrics.bar_chart(result.rows),
            bar_chart_height=metrics.bar_chart_height(result.rows),
            chart_limit=metrics.CHART_GROUPS,
            export_query=self.request.GET.urlencode(),
        )
        return context


class MetricsExport(StaffOnlyMixin, View):
    """The page's table as XLSX (same filters and order, with the totals row): capped,
    formula-safe and audited like every export."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = MetricsFilterForm(_with_default_group(request.GET))
        if not form.is_valid():
            errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
            return HttpResponseBadRequest(errors, content_type="text/plain; charset=utf-8")
        dimension, period = form.dimension(), form.period()
        sort, descending = form.sorting()
        result = metrics.report(request.user, period, dimension, sort, descending)
        rows = [
            *export_rows(result.rows, result.measures),
            *export_rows([result.totals], result.measures),
        ]
        columns = export_columns(dimension, result.measures)
        return audited_xlsx(request, f"case_metrics-{dimension.key}", columns, rows)


def export_columns(dimension: Dimension, measures: tuple[Measure, ...]) -> list[tuple[str, Any]]:
    result: list[tuple[str, Any]] = [("label", dimension.label)]
    for measure in measures:
        heading: Any = measure.label
        if measure.kind == metrics.RATE:
            heading = gettext("%(label)s (%%)") % {"label": measure.label}
        result.append((measure.key, heading))
    return result


def export_rows(rows: list[MetricRow], measures: tuple[Measure, ...]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(
            label=row.label,
            **{m.key: metrics.export_value(m, row.value(m.key)) for m in measures},
        )
        for row in rows
    ]


class LeagueForm(SortedForm):
    month = forms.DateField(
        label=_("Month"),
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )

    def clean_month(self) -> date | None:
        month = self.cleaned_data.get("month")
        if month and not EARLIEST <= month <= timezone.localdate():
            raise forms.ValidationError(_("Choose a month between 2000 and this month."))
        return month

    def clean_sort(self) -> str:
        sort = self.cleaned_data.get("sort") or ""
        if sort and sort not in LEAGUE_SORTS:
            raise forms.ValidationError(_("The table cannot be sorted by that column."))
        return sort


LEAGUE_MEASURES = tuple(
    metrics.MEASURE_BY_KEY[key]
    for key in ("cases", *metrics.THREE_RATES, "on_time_rate", "mean_hours_to_close")
)
LEAGUE_SORTS = {"label", SCORE.key} | {m.key for m in LEAGUE_MEASURES}


class LeaguePage(TemplateView):
    """Public (no sign-in): the monthly 接诉即办 league tables of streets and departments.
    Aggregates only, across the whole system (deliberately unscoped): no case, caller or
    staff member appears."""

    template_name = "cases/metrics/league.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = LeagueForm(self.request.GET or None)
        data = form.cleaned_data if form.is_bound and form.is_valid() else {}
        month = data.get("month")
        period = Period.of_month(month.year, month.month) if month else Period.previous_month()
        sort, descending = data.get("sort") or "", data.get("dir") != "asc"
        shown_sort = sort or SCORE.key  # ranked by the score unless asked otherwise
        shown = (SCORE, *LEAGUE_MEASURES)
        tables = []
        for key, title in (("street", _("Streets")), ("department", _("Departments"))):
            rows = metrics.league(period, key, sort, descending)
            first = ("label", metrics.DIMENSION_BY_KEY[key].label)
            tables.append(
                {
                    "key": key,
                    "title": title,
                    "columns": columns(self.request, shown, first, shown_sort, descending),
                    "rows": table_rows(rows, shown),
                }
            )
        context.update(
            form=form,
            period=period,
            tables=tables,
            months=metrics.recent_months(12),
            definitions=[(m.label, m.definition) for m in shown],
        )
        return context


urlpatterns: list[URLPattern] = [
    path("metrics/", MetricsPage.as_view(), name="metrics"),
    path("metrics/export/", MetricsExport.as_view(), name="metrics_export"),
    path("league/", LeaguePage.as_view(), name="league"),
]

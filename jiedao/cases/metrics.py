"""Case metrics (domain.md §3): the rates, each grouping as one aggregate query, league tables.

Every figure is over the cases *registered* in the period (``registered_at`` inside it). Each
rate is a count of cases with a property over a count of cases with another, both taken in one
``GROUP BY`` query by conditional aggregation (``Count(filter=Q(...))``); Python only divides.
A rate whose denominator is zero is ``None`` (shown "—"), never 0: "no case was rated" is not
"nobody was satisfied".

Closed, returned and reopened cases have no current handler (the services clear it), so the
handler and department groupings fall back to the handler of the case's latest dispatch event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Case as Switch
from django.db.models import (
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat, TruncMonth
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from jiedao.cases import selectors
from jiedao.cases.models import (
    NO_CALLER_CHANNELS,
    Case,
    Category,
    HandlerType,
    Node,
    Rating,
    Summons,
)
from jiedao.core.db import replica
from jiedao.core.scopes import unscoped
from jiedao.territory.models import Community, Department, Street

RATE, HOURS, COUNT = "rate", "hours", "count"
NO_VALUE = "—"


# --- The definitions ------------------------------------------------------------------------


def case_filters(prefix: str = "") -> dict[str, Q]:
    """The conditions counted for every figure, on ``Case`` (``prefix`` "case__" from a row that
    points at a case, such as a summons). Each numerator implies its denominator."""

    def q(**lookups: Any) -> Q:
        return Q(**{prefix + name: value for name, value in lookups.items()})

    def f(name: str) -> F:
        return F(prefix + name)

    closed = q(node=Node.CLOSED, closed_at__isnull=False)
    rated = ~q(rating="")
    return {
        "dispatched": q(dispatched_at__isnull=False),
        # NULL never compares: an unacknowledged or uncontacted case is not "in time".
        # A patrol finding has no caller to contact: acknowledging in time is the response.
        "responded": q(dispatched_at__isnull=False, acknowledged_at__lte=f("acknowledge_due"))
        & (q(contacted_at__lte=f("contact_due")) | q(channel__in=sorted(NO_CALLER_CHANNELS))),
        "rated": rated,
        "solved": rated & q(solved=True),
        "satisfied": q(rating__in=[Rating.SATISFIED, Rating.MOSTLY_SATISFIED]),
        "closed": closed,
        "closed_on_time": closed & q(closed_at__lte=f("resolve_due")),
        "handled": q(handled_at__isnull=False) | q(rework_count__gt=0),
        "reworked": q(rework_count__gt=0),
        "dispatched_once": q(dispatched_at__isnull=False) | q(return_count__gt=0),
        "returned": q(return_count__gt=0),
        "closed_once": closed | q(reopen_count__gt=0),
        "reopened": q(reopen_count__gt=0),
    }


def case_aggregates(prefix: str = "") -> dict[str, Any]:
    """``cases`` (all rows), one conditional count per filter and ``close_time`` (the sum of
    closed_at − registered_at over the closed cases). Sums, not means, so that the rows of one
    grouping add up to the totals without another query."""
    filters = case_filters(prefix)
    aggregates: dict[str, Any] = {"cases": Count("pk")}
    aggregates.update({name: Count("pk", filter=where) for name, where in filters.items()})
    duration = ExpressionWrapper(
        F(prefix + "closed_at") - F(prefix + "registered_at"), output_field=DurationField()
    )
    aggregates["close_time"] = Sum(duration, filter=filters["closed"])
    return aggregates


def summons_aggregates() -> dict[str, Any]:
    """吹哨报到: a summons counts once its deadline has passed or it was answered."""
    now = timezone.now()
    return {
        # Named apart from the fields: an annotation would shadow F("report_due") below.
        "reports_due": Count("pk", filter=Q(report_due__lte=now) | Q(reported_at__isnull=False)),
        "reported_on_time": Count("pk", filter=Q(reported_at__lte=F("report_due"))),
        "parts_due": Count("pk", filter=Q(part_due__lte=now) | Q(part_recorded_at__isnull=False)),
        "part_on_time": Count("pk", filter=Q(part_recorded_at__lte=F("part_due"))),
    }


@dataclass(frozen=True)
class Measure:
    """One figure: ``numerator`` ÷ ``denominator`` (keys of the aggregates) for a rate."""

    key: str
    label: Promise
    definition: Promise
    numerator: str = ""
    denominator: str = ""
    kind: str = RATE


MEASURES: tuple[Measure, ...] = (
    Measure(
        "cases",
        _("Cases"),
        _("Cases registered in the period: every other figure counts among these."),
        kind=COUNT,
    ),
    Measure(
        "response_rate",
        _("Response rate"),
        _(
            "Cases acknowledged by the acknowledge deadline and whose caller was contacted by "
            "the contact deadline, divided by the cases dispatched."
        ),
        "responded",
        "dispatched",
    ),
    Measure(
        "resolution_rate",
        _("Resolution rate"),
        _("Rated cases the caller says are solved, divided by the rated cases."),
        "solved",
        "rated",
    ),
    Measure(
        "satisfaction_rate",
        _("Satisfaction rate"),
        _("Rated cases rated satisfied or mostly satisfied, divided by the rated cases."),
        "satisfied",
        "rated",
    ),
    Measure(
        "on_time_rate",
        _("On-time closure rate"),
        _("Closed cases closed by their resolve deadline, divided by the closed cases."),
        "closed_on_time",
        "closed",
    ),
    Measure(
        "rework_rate",
        _("Rework rate"),
        _(
            "Cases sent back for rework at least once, divided by the cases handled (reported "
            "as handled, or reworked)."
        ),
        "reworked",
        "handled",
    ),
    Measure(
        "return_rate",
        _("Return rate"),
        _(
            "Cases returned as not ours at least once, divided by the cases dispatched at "
            "least once."
        ),
        "returned",
        "dispatched_once",
    ),
    Measure(
        "reopen_rate",
        _("Reopen rate"),
        _("Cases reopened at least once, divided by the cases closed at least once."),
        "reopened",
        "closed_once",
    ),
    Measure(
        "mean_hours_to_close",
        _("Mean hours to close"),
        _(
            "Mean time from registration to closure, in hours, over the closed cases (a "
            "reopened case counts from its reopening)."
        ),
        kind=HOURS,
    ),
)

SUMMONS_MEASURES: tuple[Measure, ...] = (
    Measure(
        "report_rate",
        _("On-time 报到 rate"),
        _(
            "Summonses the department reported (报到) to by the deadline, divided by the "
            "summonses whose deadline has passed or that were reported."
        ),
        "reported_on_time",
        "reports_due",
    ),
    Measure(
        "part_rate",
        _("On-time part rate"),
        _(
            "Summonses whose part the department recorded by the deadline, divided by the "
            "summonses whose deadline has passed or whose part was recorded."
        ),
        "part_on_time",
        "parts_due",
    ),
)

MEASURE_BY_KEY = {m.key: m for m in (*MEASURES, *SUMMONS_MEASURES)}
# The three rates (三率) Beijing ranks 接诉即办 by, and the weights of the league score. Places
# weigh them differently (equal thirds here); change the weights, not the code that uses them.
THREE_RATES = ("response_rate", "resolution_rate", "satisfaction_rate")
LEAGUE_WEIGHTS = {"response_rate": 1 / 3, "resolution_rate": 1 / 3, "satisfaction_rate": 1 / 3}
SCORE = Measure(
    "score",
    _("Score"),
    _(
        "The mean of the response, resolution and satisfaction rates; none when any of the "
        "three has no cases to count."
    ),
)


# --- Rows -----------------------------------------------------------------------------------


@dataclass
class MetricRow:
    """One group: its key, its label, the raw counts and every figure computed from them."""

    key: Any
    label: str
    counts: dict[str, Any]
    values: dict[str, float | int | None] = field(default_factory=dict)
    rank: int | None = None

    def value(self, key: str) -> float | int | None:
        return self.values.get(key)


def compute_values(counts: dict[str, Any], measures: Iterable[Measure]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for measure in measures:
        if measure.kind == COUNT:
            values[measure.key] = counts.get(measure.key) or 0
        elif measure.kind == HOURS:
            values[measure.key] = _mean_hours(counts.get("close_time"), counts.get("closed"))
        else:
            values[measure.key] = rate(
                counts.get(measure.numerator), counts.get(measure.denominator)
            )
    return values


def rate(numerator: int | None, denominator: int | None) -> float | None:
    """``None`` when there is nothing to divide by: shown "—", never 0."""
    if not denominator:
        return None
    return (numerator or 0) / denominator


def _mean_hours(total: Any, count: int | None) -> float | None:
    if total is None or not count:
        return None
    if isinstance(total, timedelta):
        return total.total_seconds() / 3600 / count
    return float(total) / 3_600_000_000 / count  # microseconds, from a backend without intervals


def combine(rows: Iterable[MetricRow], label: str = "") -> MetricRow:
    """One row adding up the counts of rows that share no case (the months of a period)."""
    counts: dict[str, Any] = {}
    for row in rows:
        for key, value in row.counts.items():
            if value is not None:
                counts[key] = counts[key] + value if key in counts else value
    return MetricRow(None, label or gettext("All cases"), counts, compute_values(counts, MEASURES))


def league_score(values: dict[str, Any]) -> float | None:
    parts = [values.get(key) for key in LEAGUE_WEIGHTS]
    if any(part is None for part in parts):
        return None
    return sum(values[key] * weight for key, weight in LEAGUE_WEIGHTS.items())


def display(measure: Measure, value: Any) -> str:
    """The figure as a page shows it: "75.0%", "12.3", "1,234" or "—"."""
    if value is None:
        return NO_VALUE
    if measure.kind == COUNT:
        return f"{value:,}"
    if measure.kind == HOURS:
        return f"{value:,.1f}"
    return f"{value * 100:.1f}%"


def export_value(measure: Measure, value: Any) -> Any:
    """The figure in a spreadsheet cell: rates in percent (one decimal), "—" for none."""
    if value is None:
        return NO_VALUE
    if measure.kind == RATE:
        return round(value * 100, 1)
    if measure.kind == HOURS:
        return round(value, 1)
    return value


def sort_rows(rows: list[MetricRow], key: str, descending: bool) -> list[MetricRow]:
    """By a figure (or "label"); groups with no figure ("—") go last in either direction."""

    def value(row: MetricRow) -> Any:
        if key == "label":
            return row.label
        return row.value(key)

    known = [row for row in rows if value(row) is not None]
    unknown = sorted((row for row in rows if value(row) is None), key=lambda row: row.label)
    known.sort(key=lambda row: row.label)
    known.sort(key=value, reverse=descending)  # stable: equal figures stay in label order
    return known + unknown


# --- Periods --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Local calendar days ``first_day`` … ``last_day``; ``start`` ≤ registered_at < ``end``."""

    first_day: date
    last_day: date
    month: str = ""  # "2025-09" when the period is exactly one calendar month

    @property
    def start(self) -> datetime:
        return _local_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return _local_midnight(self.last_day + timedelta(days=1))

    @classmethod
    def of_month(cls, year: int, month: int) -> Period:
        first = date(year, month, 1)
        return cls(first, _next_month(first) - timedelta(days=1), f"{year:04d}-{month:02d}")

    @classmethod
    def last_months(cls, count: int = 12, today: date | None = None) -> Period:
        """The current month and the ``count`` − 1 before it."""
        today = today or timezone.localdate()
        first = today.replace(day=1)
        for _step in range(count - 1):
            first = (first - timedelta(days=1)).replace(day=1)
        return cls(first, _next_month(today.replace(day=1)) - timedelta(days=1))

    @classmethod
    def previous_month(cls, today: date | None = None) -> Period:
        last = (today or timezone.localdate()).replace(day=1) - timedelta(days=1)
        return cls.of_month(last.year, last.month)


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def recent_months(count: int = 12, today: date | None = None) -> list[str]:
    """ "2025-09"-style months, the latest complete month first."""
    first = (today or timezone.localdate()).replace(day=1)
    months = []
    for _step in range(count):
        first = (first - timedelta(days=1)).replace(day=1)
        months.append(f"{first.year:04d}-{first.month:02d}")
    return months


# --- Groupings ------------------------------------------------------------------------------


def _key(*parts: Any) -> Concat:
    return Concat(*parts, output_field=CharField())


def handler_key() -> Switch:
    """Keys "dept:<id>", "street:<code>", "community:<code>" or "property:<code>": the last
    handler (the current one, or for a closed case the one that had it)."""
    return Switch(
        When(
            last_handler_department__isnull=False,
            then=_key(Value("dept:"), Cast("last_handler_department_id", CharField())),
        ),
        When(
            ~Q(last_handler_unit_code=""),
            then=_key("last_handler_type", Value(":"), "last_handler_unit_code"),
        ),
        default=Value(None),
        output_field=CharField(),
    )


def department_key() -> F:
    """The last handling department's id."""
    return F("last_handler_department_id")


def _names(model: Any, field_name: str, keys: Iterable[Any]) -> dict[Any, str]:
    with unscoped():
        rows = model.all_objects.filter(**{f"{field_name}__in": list(keys)})
        return {getattr(row, field_name): row.name for row in rows.only(field_name, "name")}


def handler_labels(keys: Sequence[Any]) -> dict[Any, str]:
    parsed = [(key, *key.split(":", 1)) for key in keys if key and ":" in key]
    departments = _names(Department, "pk", {int(v) for _k, t, v in parsed if t == "dept"})
    units = {v for _k, t, v in parsed if t != "dept"}
    codes = {**_names(Community, "code", units), **_names(Street, "code", units)}
    labels = {}
    for key, kind, value in parsed:
        if kind == "dept":
            labels[key] = departments.get(int(value), key)
            continue
        try:
            type_label = HandlerType(kind).label
        except ValueError:
            type_label = kind
        labels[key] = f"{codes.get(value, value)} · {type_label}"
    return labels


def category_labels(keys: Sequence[Any]) -> dict[Any, str]:
    rows = Category.objects.filter(pk__in=[k for k in keys if k is not None])
    return {row.pk: str(row) for row in rows}


def month_labels(keys: Sequence[Any]) -> dict[Any, str]:
    return {key: timezone.localtime(key).strftime("%Y-%m") for key in keys if key is not None}


@dataclass(frozen=True)
class Dimension:
    """A grouping: the SQL expression each row is grouped by and how its keys are named."""

    key: str
    label: Promise
    group_by: Callable[[], Any]
    labels: Callable[[Sequence[Any]], dict[Any, str]]
    over_summonses: bool = False  # one row per (summons, case) instead of per case
    keep_unknown: bool = True  # show the group of cases with no key ("not recorded")
    default_sort: tuple[str, bool] = ("cases", True)


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("handler", _("Handler"), handler_key, handler_labels),
    Dimension(
        "community",
        _("Community"),
        lambda: F("community_code"),
        lambda keys: _names(Community, "code", keys),
    ),
    Dimension(
        "street", _("Street"), lambda: F("street_code"), lambda keys: _names(Street, "code", keys)
    ),
    Dimension(
        "department",
        _("Handling department"),
        department_key,
        lambda keys: _names(Department, "pk", [k for k in keys if k is not None]),
        keep_unknown=False,
    ),
    Dimension(
        "summoned",
        _("Summoned department (吹哨报到)"),
        lambda: F("department_id"),
        lambda keys: _names(Department, "pk", keys),
        over_summonses=True,
    ),
    Dimension("category", _("Subcategory (小类)"), lambda: F("category_id"), category_labels),
    Dimension(
        "main_category",
        _("Main category (大类)"),
        lambda: F("category__parent_id"),
        category_labels,
    ),
    Dimension(
        "month",
        _("Month"),
        lambda: TruncMonth("registered_at"),
        month_labels,
        default_sort=("label", False),  # "2025-09" labels sort by time
    ),
)
DIMENSION_BY_KEY = {d.key: d for d in DIMENSIONS}
DEFAULT_DIMENSION = "community"


def measures_for(dimension: Dimension) -> tuple[Measure, ...]:
    return (*MEASURES, *SUMMONS_MEASURES) if dimension.over_summonses else MEASURES


# --- Queries --------------------------------------------------------------------------------


def scoped_cases(actor: Any, period: Period) -> QuerySet[Case]:
    """The cases registered in the period that the actor may see (the selector's scope)."""
    return _in_period(selectors.cases(actor), period)


def all_cases(period: Period) -> QuerySet[Case]:
    """Every case registered in the period, across all territory: only for the public league
    tables, which show aggregates of streets and departments and nothing about any person."""
    with unscoped():
        return _in_period(Case.objects.all(), period)


def _in_period(cases: QuerySet[Case], period: Period) -> QuerySet[Case]:
    return cases.filter(registered_at__gte=period.start, registered_at__lt=period.end).using(
        replica()
    )


def totals(cases: QuerySet[Case], label: str = "") -> MetricRow:
    """The figures over all the cases: one aggregate query."""
    counts = cases.order_by().aggregate(**case_aggregates())
    return MetricRow(None, label or gettext("All cases"), counts, compute_values(counts, MEASURES))


def grouped(cases: QuerySet[Case], dimension: Dimension) -> list[MetricRow]:
    """One aggregate query grouped by the dimension's key, then one query for the names."""
    if dimension.over_summonses:
        with unscoped():
            base: QuerySet[Any] = Summons.all_objects.filter(case__in=cases.values("pk"))
        aggregates = {**case_aggregates("case__"), **summons_aggregates()}
        base = base.using(cases.db)
    else:
        base, aggregates = cases, case_aggregates()
    rows = list(
        base.order_by()
        .annotate(group_key=dimension.group_by())
        .values("group_key")
        .annotate(**aggregates)
        .order_by()
    )
    if not dimension.keep_unknown:
        rows = [row for row in rows if row["group_key"] is not None]
    labels = dimension.labels([row["group_key"] for row in rows if row["group_key"] is not None])
    measures = measures_for(dimension)
    result = []
    for row in rows:
        key = row.pop("group_key")
        label = labels.get(key, str(key)) if key is not None else gettext("Not recorded")
        result.append(MetricRow(key, label, row, compute_values(row, measures)))
    return result


@dataclass
class Report:
    period: Period
    dimension: Dimension
    totals: MetricRow
    rows: list[MetricRow]
    trend: list[MetricRow]

    @property
    def measures(self) -> tuple[Measure, ...]:
        return measures_for(self.dimension)


def report(
    actor: Any,
    period: Period,
    dimension: Dimension,
    sort: str = "",
    descending: bool = True,
) -> Report:
    """Figures, the grouped table (sorted) and the monthly trend, over the actor's cases."""
    cases = scoped_cases(actor, period)
    rows = grouped(cases, dimension)
    sort_key, sort_desc = (sort, descending) if sort else dimension.default_sort
    # Every case of the period falls in one month: the totals are the months added up.
    trend = grouped(cases, DIMENSION_BY_KEY["month"])
    return Report(
        period=period,
        dimension=dimension,
        totals=combine(trend),
        rows=sort_rows(rows, sort_key, sort_desc),
        trend=every_month(trend, period),
    )


def every_month(rows: list[MetricRow], period: Period) -> list[MetricRow]:
    """The month rows in order, with a row of no figures for each month without cases, so a
    trend line shows a gap rather than joining months that are far apart."""
    by_label = {row.label: row for row in rows}
    result, first = [], period.first_day.replace(day=1)
    while first <= period.last_day:
        label = f"{first.year:04d}-{first.month:02d}"
        result.append(
            by_label.get(label) or MetricRow(None, label, {}, compute_values({}, MEASURES))
        )
        first = _next_month(first)
    return result


def league(
    period: Period, dimension_key: str, sort: str = "", descending: bool = True
) -> list[MetricRow]:
    """A public league table (streets or handling departments) of one period, ranked by the
    score: competition ranking (1, 2, 2, 4); groups with no score are unranked."""
    rows = grouped(all_cases(period), DIMENSION_BY_KEY[dimension_key])
    for row in rows:
        row.values["score"] = league_score(row.values)
    ranked = sort_rows(rows, "score", True)
    previous, rank = None, 0
    for position, row in enumerate(ranked, start=1):
        score = row.values["score"]
        if score is None:
            break
        if score != previous:
            rank, previous = position, score
        row.rank = rank
    return sort_rows(rows, sort, descending) if sort else ranked


# --- Charts (ECharts options, built here so templates only carry data-chart) ----------------

COLOURS = {
    "response_rate": "#0b3d91",
    "resolution_rate": "#2e7d32",
    "satisfaction_rate": "#b3261e",
    "on_time_rate": "#8a5a00",
}


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def trend_chart(rows: Sequence[MetricRow]) -> str:
    """A line per rate over the months."""
    option = {
        "grid": {"left": 8, "right": 24, "top": 56, "bottom": 8, "containLabel": True},
        "legend": {"top": 0},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [row.label for row in rows]},
        "yAxis": {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {
                "type": "line",
                "name": str(MEASURE_BY_KEY[key].label),
                "data": [_percent(row.value(key)) for row in rows],
                "itemStyle": {"color": colour},
                "lineStyle": {"color": colour},
                "connectNulls": False,
            }
            for key, colour in COLOURS.items()
        ],
    }
    return json.dumps(option, ensure_ascii=False)


CHART_GROUPS = 25  # bars beyond this would be unreadable: the table lists every group


def bar_chart(rows: Sequence[MetricRow]) -> str:
    """Horizontal bars of the three rates (三率) per group, the largest groups first."""
    shown = sorted(rows, key=lambda row: -(row.value("cases") or 0))[:CHART_GROUPS]
    option = {
        "grid": {"left": 8, "right": 56, "top": 32, "bottom": 8, "containLabel": True},
        "legend": {"top": 0},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "yAxis": {"type": "category", "inverse": True, "data": [row.label for row in shown]},
        "xAxis": {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {
                "type": "bar",
                "name": str(MEASURE_BY_KEY[key].label),
                "data": [_percent(row.value(key)) for row in shown],
                "itemStyle": {"color": COLOURS[key]},
            }
            for key in THREE_RATES
        ],
    }
    return json.dumps(option, ensure_ascii=False)


def bar_chart_height(rows: Sequence[MetricRow]) -> int:
    return max(240, 48 + 54 * min(len(rows), CHART_GROUPS))

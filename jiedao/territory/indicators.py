"""Grid indicators for the grid map (choropleth) and the grid profile (网格画像), issue 5.

``grid_indicators(actor, area_code)`` gives one row per grid under a district, street, community
(or grid) code that lies inside the actor's *record* territory (a street's staff looking at their
district get their own street's grids only): population, households, open and overdue cases,
people in any care group and in each care group. Each measure is one grouped query over the whole
area (persons and care tags grouped by the first 15 digits of their territory code, cases by
grid), never a query per grid: five queries in all, however many grids there are.

``grid_profile(actor, grid)`` gathers one grid's figures for its profile page.

"Open" and "overdue" are the case desk's own queues (``cases.selectors.queue_q``), so the map,
the profile and the desk always count the same cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Substr, TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from jiedao.cases import metrics
from jiedao.cases.models import Case
from jiedao.cases.selectors import OPEN_NODES, queue_counts, queue_q
from jiedao.core.scopes import Scope
from jiedao.core.selectors import scope_of, visible_under
from jiedao.registry import reconciliation
from jiedao.registry.models import CareGroup, CareTag, Household, Person
from jiedao.territory import codes, grid_io, selectors
from jiedao.territory.models import Community, District, Grid, GridPurpose, Street

GRID_CODE_LENGTH = 12 + codes.GRID_SUFFIX_DIGITS
AREA_CODE_LENGTHS = (12, GRID_CODE_LENGTH)
CASE_MONTHS = 12
TOP_CATEGORIES = 5


@dataclass(frozen=True)
class Indicator:
    key: str
    label: Promise
    group: str  # "figures" or "care": how the map's switcher groups them


FIGURES, CARE = "figures", "care"
INDICATORS: tuple[Indicator, ...] = (
    Indicator("population", _("Population"), FIGURES),
    Indicator("households", _("Households"), FIGURES),
    Indicator("open_cases", _("Open cases"), FIGURES),
    Indicator("overdue_cases", _("Overdue cases"), FIGURES),
    Indicator("care", _("People in any care group"), FIGURES),
    *(Indicator(f"care_{value}", label, CARE) for value, label in CareGroup.choices),
)
INDICATOR_KEYS: tuple[str, ...] = tuple(indicator.key for indicator in INDICATORS)
INDICATOR_BY_KEY = {indicator.key: indicator for indicator in INDICATORS}
DEFAULT_INDICATOR = "population"


# --- Who and where --------------------------------------------------------------------------


def may_view_map(actor: Any) -> bool:
    """Staff whose grants cover records (a grid and up). Residents see no records; department
    staff see their district's structure, not its population or cases, so neither sees the map
    nor the profile (they keep the grid list and grid pages, which show structure)."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_staff_member:
        return False
    return scope_of(actor).sees_records


def is_area_code(code: str) -> bool:
    """12 digits (district, street, community) or 15 (grid); nothing else reaches a query."""
    return code.isascii() and code.isdigit() and len(code) in AREA_CODE_LENGTHS


def touches(scope: Scope, code: str) -> bool:
    """Whether records under ``code`` can be inside the scope (an ancestor of a grant, the
    granted node itself, or a node below it)."""
    return reconciliation.touches(scope, code)


def area_model(code: str) -> Any:
    if len(code) == GRID_CODE_LENGTH:
        return Grid
    if code.endswith("000000"):
        return District
    if code.endswith("000"):
        return Street
    return Community


AREA_SELECTORS: dict[Any, Any] = {
    District: selectors.districts,
    Street: selectors.streets,
    Community: selectors.communities,
    Grid: selectors.grids,
}


def find_area(actor: Any, code: str) -> Any:
    """The district, street, community or grid ``code`` if the actor may see it and records
    under it can be in their territory; None otherwise (unknown, malformed or outside)."""
    if not is_area_code(code):
        return None
    model = area_model(code)
    node = AREA_SELECTORS[model](actor).filter(code=code).first()
    if node is None or not touches(scope_of(actor), node.code):
        return None
    return node


def default_area(actor: Any) -> Any:
    """The widest node of the actor's record grants (a street's staff: their street; a grid
    worker: their grid); grants in several nodes: the nearest node above them all; the system
    administrator: the first district."""
    scope = scope_of(actor)
    if scope.everything:
        return selectors.districts(actor).order_by("code").first()
    prefixes = sorted(scope.prefixes, key=lambda p: (len(p), p))
    if not prefixes:
        return None
    shared = _common_prefix(prefixes)
    candidates = [_node_code(shared)] if shared else []
    candidates.append(_node_code(prefixes[0]))
    for code in candidates:
        node = find_area(actor, code) if code else None
        if node is not None:
            return node
    return None


def _common_prefix(prefixes: list[str]) -> str:
    """The longest node prefix (6, 9, 12 or 15 digits) that every prefix starts with."""
    first = prefixes[0]
    for length in (GRID_CODE_LENGTH, 12, 9, 6):
        if len(first) >= length and all(p.startswith(first[:length]) for p in prefixes):
            return first[:length]
    return ""


def _node_code(prefix: str) -> str:
    """The code of the node whose scope prefix is ``prefix``."""
    if len(prefix) == 6:
        return prefix + "000000"
    if len(prefix) == 9:
        return prefix + "000"
    return prefix


# --- The map's rows -------------------------------------------------------------------------


def grids_in_scope(actor: Any, area_code: str) -> QuerySet[Grid]:
    """Grids (not retired) under the area whose records the actor may see, in code order. A
    department's structure view of the district does not count: only record grants do."""
    prefix = codes.scope_prefix(area_code)
    scope = scope_of(actor)
    rows = visible_under(Grid, actor, prefix, field="code").filter(retired_at__isnull=True)
    if not scope.covers_code(prefix):
        rows = rows.filter(scope.q("code"))
    return rows.select_related("community").order_by("code")


def grid_indicators(actor: Any, area_code: str) -> list[dict[str, Any]]:
    """One row per grid in scope under ``area_code``: code, name, community, profile url and
    every indicator (``INDICATOR_KEYS``). Five queries whatever the number of grids."""
    grids = list(grids_in_scope(actor, area_code).defer("boundary"))
    return indicator_rows(actor, area_code, grids)


def indicator_rows(actor: Any, area_code: str, grids: list[Grid]) -> list[dict[str, Any]]:
    """``grid_indicators`` for grids already read (the map data reads them with boundaries)."""
    values = indicator_values(actor, codes.scope_prefix(area_code), grids)
    return [
        {
            "code": grid.code,
            "name": grid.name,
            "community": grid.community.name,
            "community_code": grid.community.code,
            "url": reverse("territory:grid_profile", args=[grid.code]),
            **values[grid.code],
        }
        for grid in grids
    ]


def indicator_values(actor: Any, prefix: str, grids: list[Grid]) -> dict[str, dict[str, int]]:
    """{grid code: {indicator key: value}} for ``grids`` under ``prefix``; grids with no row in
    a measure get 0. Four grouped queries (persons, households, care tags, cases)."""
    result = {grid.code: dict.fromkeys(INDICATOR_KEYS, 0) for grid in grids}
    if not result:
        return result
    grid_of = Substr("territory_code", 1, GRID_CODE_LENGTH)
    for model, key in ((Person, "population"), (Household, "households")):
        grouped = (
            visible_under(model, actor, prefix)
            .order_by()
            .annotate(grid=grid_of)
            .values("grid")
            .annotate(n=Count("*"))  # not COUNT(id): PostgreSQL counts from the code index alone
        )
        for row in grouped:
            if row["grid"] in result:
                result[row["grid"]][key] = row["n"]
    per_group = {f"care_{g}": Count("pk", filter=Q(group=g)) for g in CareGroup.values}
    care = (
        visible_under(CareTag, actor, prefix)
        .order_by()
        .annotate(grid=grid_of)
        .values("grid")
        .annotate(care=Count("person_id", distinct=True), **per_group)
    )
    for care_row in care:
        values: dict[str, Any] = dict(care_row)
        if values["grid"] in result:
            result[values["grid"]].update({key: values[key] for key in ("care", *per_group)})
    code_of = {grid.pk: grid.code for grid in grids}
    for grid_id, counts in case_counts(actor, prefix).items():
        if grid_id in code_of:
            result[code_of[grid_id]].update(counts)
    return result


def case_counts(actor: Any, prefix: str) -> dict[int, dict[str, int]]:
    """{grid id: {"open_cases", "overdue_cases"}}: one query grouped by grid, with the desk's
    queue definitions. Strictly the actor's territory: a case a department handles elsewhere
    is not counted in anybody's grid here."""
    now = timezone.now()
    rows = (
        visible_under(Case, actor, prefix)
        .filter(node__in=OPEN_NODES)
        .order_by()
        .values("grid_id")
        .annotate(
            open_cases=Count("pk", filter=queue_q("open", now)),
            overdue_cases=Count("pk", filter=queue_q("overdue", now)),
        )
    )
    return {
        row["grid_id"]: {"open_cases": row["open_cases"], "overdue_cases": row["overdue_cases"]}
        for row in rows
    }


def totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Each indicator added up over the rows (care groups: a person in two groups counts in
    both; "any care group" counts them once per grid)."""
    return {key: sum(row[key] for row in rows) for key in INDICATOR_KEYS}


# --- The grid profile (网格画像) ------------------------------------------------------------

# Age bands (years, inclusive); None: no upper bound.
AGE_BANDS: tuple[tuple[int, int | None], ...] = (
    (0, 6),
    (7, 17),
    (18, 34),
    (35, 59),
    (60, 79),
    (80, None),
)


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February → 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_band_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else f"{low}–{high}"


def age_bands(persons: QuerySet[Person], today: date | None = None) -> list[dict[str, Any]]:
    """Persons per age band on ``today``, one aggregate query. Aged at least N ⇔ born on or
    before the same day N years ago."""
    today = today or timezone.localdate()
    counts: dict[str, Any] = {}
    for index, (low, high) in enumerate(AGE_BANDS):
        band = Q(birth_date__lte=years_before(today, low))
        if high is not None:
            band &= Q(birth_date__gt=years_before(today, high + 1))
        counts[f"band{index}"] = Count("pk", filter=band)
    row = persons.order_by().aggregate(**counts)
    return [
        {"label": age_band_label(low, high), "count": row[f"band{index}"] or 0}
        for index, (low, high) in enumerate(AGE_BANDS)
    ]


def care_counts(actor: Any, grid: Grid) -> dict[str, Any]:
    """People in any care group and per group (every group listed, in the groups' order)."""
    values = indicator_values(actor, grid.code, [grid])[grid.code]
    return {
        "any": values["care"],
        "groups": [
            {"key": value, "label": str(label), "count": values[f"care_{value}"]}
            for value, label in CareGroup.choices
        ],
    }


def cases_per_month(cases: QuerySet[Case], months: int = CASE_MONTHS) -> list[dict[str, Any]]:
    """Cases received per calendar month (local time), the current month and the ``months``
    − 1 before it, oldest first; months with none are 0. One query."""
    period = metrics.Period.last_months(months)
    grouped = (
        cases.filter(created_at__gte=period.start, created_at__lt=period.end)
        .order_by()
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(n=Count("pk"))
    )
    found = {timezone.localtime(row["month"]).strftime("%Y-%m"): row["n"] for row in grouped}
    labels = []
    first = period.first_day
    while first <= period.last_day:
        labels.append(f"{first.year:04d}-{first.month:02d}")
        first = (first + timedelta(days=32)).replace(day=1)
    return [{"month": label, "count": found.get(label, 0)} for label in labels]


def top_categories(cases: QuerySet[Case], limit: int = TOP_CATEGORIES) -> list[dict[str, Any]]:
    """The subcategories (小类) with most cases received in the last 12 months."""
    period = metrics.Period.last_months(CASE_MONTHS)
    rows = (
        cases.filter(created_at__gte=period.start, created_at__lt=period.end)
        .order_by()
        .values("category_id", "category__name")
        .annotate(n=Count("pk"))
        .order_by("-n", "category__name")[:limit]
    )
    return [{"name": row["category__name"], "count": row["n"]} for row in rows]


def case_rates(actor: Any, grid: Grid) -> list[dict[str, Any]]:
    """The three rates (响应率, 解决率, 满意率) and on-time closure of the grid's cases registered
    in the last 12 months, with cases metrics' own definitions (one aggregate query)."""
    period = metrics.Period.last_months(CASE_MONTHS)
    cases = metrics.scoped_cases(actor, period).filter(territory_code=grid.code)
    row = metrics.totals(cases)
    shown = ("cases", *metrics.THREE_RATES, "on_time_rate")
    return [
        {
            "key": key,
            "label": str(metrics.MEASURE_BY_KEY[key].label),
            "definition": str(metrics.MEASURE_BY_KEY[key].definition),
            "value": metrics.display(metrics.MEASURE_BY_KEY[key], row.value(key)),
        }
        for key in shown
    ]


def party_branch(actor: Any, grid: Grid) -> dict[str, Any] | None:
    """The grid's party branch (网格党支部) as the actor's party scope shows it, with its members
    (those whose organisation relation is in the branch or its building groups, and serving
    members reporting here) and any form-by-size flag; None when there is none."""
    from jiedao.party import selectors as party
    from jiedao.party.models import Level

    org = party.organisations(actor).filter(level=Level.GRID, territory_code=grid.code).first()
    if org is None:
        return None
    nodes = party.tree(actor, under=org)
    node = nodes[0] if nodes else None
    return {
        "organisation": org,
        "members": node.total.counted if node else 0,
        "full_members": node.total.full if node else 0,
        "registered": node.total.registered if node else 0,
        "groups": max(len(list(node.walk())) - 1, 0) if node else 0,
        "flag": node.flag_text if node else "",
    }


def grid_profile(actor: Any, grid: Grid) -> dict[str, Any]:
    """Everything the grid profile page shows, under the actor's scope."""
    figures = selectors.figures(actor, grid.code)
    residence = reconciliation.visible_counts(actor, reconciliation.GRID, grid.code)
    cases = visible_under(Case, actor, grid.code)
    queues = queue_counts(cases.order_by(), ["open", "overdue"])
    labels = dict(GridPurpose.choices)
    return {
        "figures": figures,
        "residence": residence.get(grid.code, reconciliation.Counts(grid.code)),
        "care": care_counts(actor, grid),
        "ages": age_bands(visible_under(Person, actor, grid.code)),
        "open_cases": queues["open"],
        "overdue_cases": queues["overdue"],
        "months": cases_per_month(cases),
        "categories": top_categories(cases),
        "rates": case_rates(actor, grid),
        "purposes": [str(labels.get(value, value)) for value in grid.purposes or []],
        "workers": list(grid_io.grid_workers(actor, grid)),
        "party": party_branch(actor, grid),
    }

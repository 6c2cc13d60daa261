"""Case metrics (domain.md §3): each rate on hand-built cases with figures worked out by hand,
zero denominators, every grouping, scope per role, the public league, the export, query counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import BytesIO

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.cases import metrics
from jiedao.cases.metrics import DIMENSION_BY_KEY, Period
from jiedao.cases.models import Case, CaseEvent, HandlerType, Node, Rating, Summons
from jiedao.cases.routing import unit_code_for
from jiedao.core.scopes import unscoped

pytestmark = pytest.mark.django_db

SEPTEMBER = Period.of_month(2025, 9)


def at(day: int, hour: int = 10, month: int = 9) -> datetime:
    """A local (Asia/Shanghai) time in 2025."""
    return timezone.make_aware(datetime(2025, month, day, hour))


def make_case(grid, category, node=Node.REGISTERED, **fields) -> Case:
    """A case row as the workflow would leave it, written directly (no services, no events)."""
    fields.setdefault("registered_at", at(10))
    # The services keep the last handler beside the current one.
    fields.setdefault("last_handler_type", fields.get("handler_type", ""))
    fields.setdefault("last_handler_department", fields.get("handler_department"))
    fields.setdefault("last_handler_unit_code", fields.get("handler_unit_code", ""))
    with unscoped():
        case = Case(
            channel="hotline",
            category=category,
            description="楼道灯坏了",
            grid=grid,
            node=node,
            caller_name="张三",
            caller_phone="13800138000",
            **fields,
        )
        case.save()
    return case


def closed(grid, category, **fields) -> Case:
    """Closed: handled, verified, closed; the handler is cleared as the services do."""
    registered = fields.setdefault("registered_at", at(10))
    fields.setdefault("dispatched_at", registered + timedelta(hours=1))
    fields.setdefault("handled_at", registered + timedelta(hours=5))
    fields.setdefault("verified_at", registered + timedelta(hours=6))
    fields.setdefault("closed_at", registered + timedelta(hours=8))
    fields.setdefault("resolve_due", registered + timedelta(days=5))
    return make_case(grid, category, Node.CLOSED, **fields)


def handled_by(department):
    return {"handler_type": HandlerType.DEPARTMENT, "handler_department": department}


def dispatched_event(case, **data) -> CaseEvent:
    with unscoped():
        event = CaseEvent(
            case=case, action="dispatch", from_node="registered", to_node="dispatched"
        )
        event.data = data
        event.save()
        # … and the dispatch sets the last handler, as services._set_handler does.
        kind = data.get("handler_type", "")
        department = data.get("department")
        unit = "" if department else data.get("unit_code") or unit_code_for(kind, case.grid.code)
        Case.objects.filter(pk=case.pk).update(
            last_handler_type=kind, last_handler_department=department, last_handler_unit_code=unit
        )
    return event


def figures(period=SEPTEMBER) -> metrics.MetricRow:
    return metrics.totals(metrics.all_cases(period))


def by(dimension: str, actor=None, period=SEPTEMBER) -> dict[str, metrics.MetricRow]:
    cases = metrics.all_cases(period) if actor is None else metrics.scoped_cases(actor, period)
    return {row.label: row for row in metrics.grouped(cases, DIMENSION_BY_KEY[dimension])}


@pytest.fixture
def sub(categories):
    return categories["sanitation"]


# --- Each rate, by hand -----------------------------------------------------------------------


def test_satisfaction_and_resolution_over_rated_cases(world, sub):
    # 4 rated: 2 satisfied, 1 mostly, 1 dissatisfied → 满意率 3/4 = 75 %.
    # Solved in the caller's view: 2 of the 4 → 解决率 50 %. The unrated closed case counts in
    # neither.
    grid = world.grid_a1x
    closed(grid, sub, rating=Rating.SATISFIED, solved=True)
    closed(grid, sub, rating=Rating.SATISFIED, solved=False)
    closed(grid, sub, rating=Rating.MOSTLY_SATISFIED, solved=True)
    closed(grid, sub, rating=Rating.DISSATISFIED, solved=False)
    closed(grid, sub)
    total = figures()
    assert total.value("cases") == 5
    assert total.counts["rated"] == 4
    assert total.value("satisfaction_rate") == pytest.approx(0.75)
    assert total.value("resolution_rate") == pytest.approx(0.5)
    assert metrics.display(metrics.MEASURE_BY_KEY["satisfaction_rate"], 0.75) == "75.0%"


def test_response_rate_needs_acknowledgement_and_contact_both_in_time(world, sub):
    grid, d = world.grid_a1x, at(10)
    due = {"acknowledge_due": d + timedelta(hours=2), "contact_due": d + timedelta(hours=24)}
    community = {"handler_type": HandlerType.COMMUNITY, "handler_unit_code": "110119001001"}

    def dispatched(ack: float | None, contact: float | None) -> None:
        make_case(
            grid,
            sub,
            Node.ACKNOWLEDGED if ack is not None else Node.DISPATCHED,
            dispatched_at=d,
            acknowledged_at=None if ack is None else d + timedelta(hours=ack),
            contacted_at=None if contact is None else d + timedelta(hours=contact),
            **due,
            **community,
        )

    dispatched(1, 3)  # in time
    dispatched(2, 24)  # exactly at both deadlines: in time
    dispatched(3, 3)  # acknowledged late
    dispatched(1, 25)  # contacted late
    dispatched(1, None)  # never contacted
    dispatched(None, 1)  # never acknowledged
    make_case(grid, sub, contacted_at=d)  # not dispatched: not in the denominator
    total = figures()
    assert (total.counts["responded"], total.counts["dispatched"]) == (2, 6)
    assert total.value("response_rate") == pytest.approx(2 / 6)


def test_on_time_closure_and_mean_hours_over_closed_cases(world, sub):
    grid, d = world.grid_a1x, at(10)
    closed(grid, sub, closed_at=d + timedelta(hours=10), resolve_due=d + timedelta(hours=10))
    closed(grid, sub, closed_at=d + timedelta(hours=20), resolve_due=d + timedelta(days=5))
    closed(grid, sub, closed_at=d + timedelta(hours=30), resolve_due=d + timedelta(hours=24))
    make_case(grid, sub, resolve_due=d - timedelta(days=1))  # open and overdue: not closed
    total = figures()
    assert (total.counts["closed_on_time"], total.counts["closed"]) == (2, 3)
    assert total.value("on_time_rate") == pytest.approx(2 / 3)
    assert total.value("mean_hours_to_close") == pytest.approx(20.0)  # (10 + 20 + 30) / 3


def test_rework_return_and_reopen_rates(world, sub):
    grid, d = world.grid_a1x, at(10)
    street = {"handler_type": HandlerType.STREET, "handler_unit_code": "110119001000"}
    # Rework: handled ÷ {handled twice clean, in progress again after a rework, handled after two}.
    make_case(grid, sub, Node.HANDLED, dispatched_at=d, handled_at=d, **street)
    make_case(grid, sub, Node.HANDLED, dispatched_at=d, handled_at=d, **street)
    make_case(grid, sub, Node.IN_PROGRESS, dispatched_at=d, rework_count=1, **street)
    make_case(grid, sub, Node.HANDLED, dispatched_at=d, handled_at=d, rework_count=2, **street)
    # Returns: returned once and waiting in "registered" (no dispatched_at any more).
    make_case(grid, sub, return_count=1)
    make_case(grid, sub)  # never dispatched
    # Reopens: closed clean, reopened and waiting, closed again after a reopening.
    closed(grid, sub)
    make_case(grid, sub, reopen_count=1)
    closed(grid, sub, reopen_count=1, return_count=1)
    total = figures()
    # handled: 4 above + 2 closed (handled_at set) = 6; reworked 2.
    assert (total.counts["reworked"], total.counts["handled"]) == (2, 6)
    # dispatched at least once: 4 in handling + returned one + 2 closed = 7; returned 2.
    assert (total.counts["returned"], total.counts["dispatched_once"]) == (2, 7)
    # closed at least once: 2 closed + 1 reopened and waiting = 3; reopened 2.
    assert (total.counts["reopened"], total.counts["closed_once"]) == (2, 3)
    assert total.value("rework_rate") == pytest.approx(2 / 6)
    assert total.value("return_rate") == pytest.approx(2 / 7)
    assert total.value("reopen_rate") == pytest.approx(2 / 3)


def test_the_months_add_up_to_the_totals(world, sub):
    # The page takes its totals from the month rows: the same figures as one query over all.
    d = at(10, month=8)
    closed(world.grid_a1x, sub, registered_at=d, rating=Rating.SATISFIED, solved=True)
    closed(world.grid_a2x, sub, registered_at=at(3), rating=Rating.DISSATISFIED, rework_count=1)
    closed(world.grid_b1x, sub, registered_at=at(4), closed_at=at(9), resolve_due=at(8))
    make_case(world.grid_b1x, sub, registered_at=at(5), return_count=1)
    period = Period(d.date(), at(30).date())
    months = metrics.grouped(metrics.all_cases(period), DIMENSION_BY_KEY["month"])
    assert len(months) == 2
    assert metrics.combine(months).values == figures(period).values
    assert figures(period).value("mean_hours_to_close") == pytest.approx((8 + 8 + 5 * 24) / 3)


def test_zero_denominators_are_none_and_shown_as_a_dash(world, sub):
    make_case(world.grid_a1x, sub)
    total = figures()
    assert total.value("cases") == 1
    for key in (
        "response_rate",
        "resolution_rate",
        "satisfaction_rate",
        "on_time_rate",
        "rework_rate",
        "return_rate",
        "reopen_rate",
        "mean_hours_to_close",
    ):
        assert total.value(key) is None, key
        assert metrics.display(metrics.MEASURE_BY_KEY[key], total.value(key)) == "—"
    assert metrics.rate(0, 4) == 0.0  # a real zero stays zero


def test_no_case_at_all_gives_no_rows_and_no_rates(world):
    total = figures()
    assert total.value("cases") == 0 and total.value("satisfaction_rate") is None
    assert by("community") == {}


def test_only_cases_registered_in_the_period_count(world, sub):
    grid = world.grid_a1x
    make_case(grid, sub, registered_at=at(1, 0))  # first minute of September (local time)
    make_case(grid, sub, registered_at=at(30, 23))  # last hour of September
    make_case(grid, sub, registered_at=at(31, 23, month=8))  # August
    make_case(grid, sub, registered_at=at(1, 0, month=10))  # October
    make_case(grid, sub, Node.RECEIVED, registered_at=None)  # never registered
    assert figures().value("cases") == 2
    august_to_october = Period(at(31, month=8).date(), at(1, month=10).date())
    assert metrics.totals(metrics.all_cases(august_to_october)).value("cases") == 4


# --- Groupings ----------------------------------------------------------------------------------


def test_by_community_and_street(world, sub):
    closed(world.grid_a1x, sub, rating=Rating.SATISFIED)
    closed(world.grid_a1y, sub, rating=Rating.DISSATISFIED)
    closed(world.grid_a2x, sub, rating=Rating.MOSTLY_SATISFIED)
    closed(world.grid_b1x, sub)
    communities = by("community")
    assert {k: r.value("cases") for k, r in communities.items()} == {
        "香水园社区": 2,
        "新兴西社区": 1,
        "儒林社区": 1,
    }
    assert communities["香水园社区"].value("satisfaction_rate") == pytest.approx(0.5)
    assert communities["儒林社区"].value("satisfaction_rate") is None
    streets = by("street")
    assert {k: r.value("cases") for k, r in streets.items()} == {"香水园街道": 3, "儒林街道": 1}
    assert streets["香水园街道"].value("satisfaction_rate") == pytest.approx(2 / 3)


def test_by_handler_uses_the_current_handler_or_the_last_dispatch(world, sub):
    grid, dept = world.grid_a1x, world.department
    make_case(grid, sub, Node.DISPATCHED, dispatched_at=at(10), **handled_by(dept))
    make_case(
        grid,
        sub,
        Node.DISPATCHED,
        dispatched_at=at(10),
        handler_type=HandlerType.COMMUNITY,
        handler_unit_code="110119001001",
    )
    # Closed (no handler now): first sent to the department, then re-dispatched to the street.
    moved = closed(grid, sub, rating=Rating.SATISFIED)
    dispatched_event(moved, handler_type=HandlerType.DEPARTMENT, department=dept.pk)
    dispatched_event(moved, handler_type=HandlerType.STREET)
    # Closed, last sent to the department.
    to_department = closed(grid, sub, rating=Rating.DISSATISFIED)
    dispatched_event(to_department, handler_type=HandlerType.DEPARTMENT, department=dept.pk)
    # Closed, its community named in the event as the services will record it.
    named = closed(grid, sub)
    dispatched_event(named, handler_type=HandlerType.COMMUNITY, unit_code="110119001001")
    closed(grid, sub)  # no dispatch event at all
    rows = by("handler")
    assert {k: r.value("cases") for k, r in rows.items()} == {
        "区城市管理委员会": 2,
        "香水园社区 · Community workstation": 2,
        "香水园街道 · Street office section": 1,
        "Not recorded": 1,
    }
    assert rows["区城市管理委员会"].value("satisfaction_rate") == pytest.approx(0.0)
    assert rows["香水园街道 · Street office section"].value("satisfaction_rate") == 1.0


def test_by_department_counts_only_cases_sent_to_departments(world, sub):
    grid, dept = world.grid_a1x, world.department
    make_case(grid, sub, Node.DISPATCHED, dispatched_at=at(10), **handled_by(dept))
    done = closed(grid, sub, rating=Rating.SATISFIED, solved=True)
    dispatched_event(done, handler_type=HandlerType.DEPARTMENT, department=dept.pk)
    other = closed(grid, sub)
    dispatched_event(other, handler_type=HandlerType.COMMUNITY)
    rows = by("department")
    assert list(rows) == ["区城市管理委员会"]
    assert rows["区城市管理委员会"].value("cases") == 2
    assert rows["区城市管理委员会"].value("resolution_rate") == 1.0


def test_by_summoned_department_with_report_and_part_in_time(world, sub):
    case = closed(world.grid_a1x, sub, rating=Rating.SATISFIED)
    late = closed(world.grid_a1y, sub)
    due = timezone.now() - timedelta(days=1)
    with unscoped():
        Summons(
            case=case,
            department=world.department,
            reason="需要执法",
            report_due=due,
            part_due=due,
            reported_at=due - timedelta(hours=1),
            part_recorded_at=due + timedelta(hours=1),
        ).save()
        Summons(
            case=late, department=world.department, reason="需要执法", report_due=due, part_due=due
        ).save()
    row = by("summoned")["区城市管理委员会"]
    assert row.value("cases") == 2
    assert row.value("satisfaction_rate") == 1.0
    assert row.value("report_rate") == pytest.approx(0.5)  # one of two reported in time
    assert row.value("part_rate") == 0.0  # one late, one missing


def test_by_subcategory_and_main_category(world, categories):
    closed(world.grid_a1x, categories["sanitation"], rating=Rating.SATISFIED)
    closed(world.grid_a1x, categories["drainage"], rating=Rating.DISSATISFIED)
    closed(world.grid_a1x, categories["drainage"])
    subs = by("category")
    assert {k: r.value("cases") for k, r in subs.items()} == {
        "0101 垃圾清运": 1,
        "0102 排水管道": 2,
    }
    mains = by("main_category")
    assert list(mains) == ["01 市容环境"]
    assert mains["01 市容环境"].value("satisfaction_rate") == pytest.approx(0.5)


def test_by_month_uses_local_months(world, sub):
    make_case(world.grid_a1x, sub, registered_at=at(30, 23))  # 15:00 UTC: still September
    make_case(world.grid_a1x, sub, registered_at=at(1, 1, month=10))  # 17:00 UTC on 30 Sep
    make_case(world.grid_a1x, sub, registered_at=at(2, 9, month=10))
    rows = by("month", period=Period(at(1).date(), at(31, month=10).date()))
    assert {k: r.value("cases") for k, r in rows.items()} == {"2025-09": 1, "2025-10": 2}


def test_the_trend_has_every_month_of_the_period_in_order(world, sub, role_users):
    closed(world.grid_a1x, sub, registered_at=at(20, month=7), rating=Rating.SATISFIED)
    closed(world.grid_a1x, sub, registered_at=at(2), rating=Rating.DISSATISFIED)
    june_to_september = Period(at(15, month=6).date(), at(30).date())
    admin = role_users[Role.SYSTEM_ADMIN]
    trend = metrics.report(admin, june_to_september, DIMENSION_BY_KEY["street"]).trend
    assert [(r.label, r.value("cases"), r.value("satisfaction_rate")) for r in trend] == [
        ("2025-06", 0, None),
        ("2025-07", 1, 1.0),
        ("2025-08", 0, None),
        ("2025-09", 1, 0.0),
    ]


def test_each_grouping_is_one_aggregate_query(world, sub, django_assert_max_num_queries):
    for grid in (world.grid_a1x, world.grid_a2x, world.grid_b1x):
        for _n in range(3):
            dispatched_event(closed(grid, sub), handler_type=HandlerType.STREET)
    cases = metrics.all_cases(SEPTEMBER)
    for dimension in metrics.DIMENSIONS:
        # One aggregate query; names in one more (three for handlers: departments, units).
        with django_assert_max_num_queries(4 if dimension.key == "handler" else 2):
            metrics.grouped(cases, dimension)


def test_sorting_puts_groups_without_a_figure_last_both_ways(world, sub):
    closed(world.grid_a1x, sub, rating=Rating.SATISFIED)
    closed(world.grid_a2x, sub, rating=Rating.DISSATISFIED)
    closed(world.grid_b1x, sub)
    rows = metrics.grouped(metrics.all_cases(SEPTEMBER), DIMENSION_BY_KEY["community"])
    down = [r.label for r in metrics.sort_rows(rows, "satisfaction_rate", True)]
    up = [r.label for r in metrics.sort_rows(rows, "satisfaction_rate", False)]
    assert down == ["香水园社区", "新兴西社区", "儒林社区"]
    assert up == ["新兴西社区", "香水园社区", "儒林社区"]


def test_league_ranks_by_score_with_shared_ranks(world, sub):
    # Both streets: every case responded, solved and satisfied → equal scores, rank 1 and 1.
    d = at(10)
    for grid in (world.grid_a1x, world.grid_b1x):
        closed(
            grid,
            sub,
            rating=Rating.SATISFIED,
            solved=True,
            acknowledged_at=d + timedelta(hours=1, minutes=30),
            acknowledge_due=d + timedelta(hours=3),
            contacted_at=d + timedelta(hours=2),
            contact_due=d + timedelta(hours=24),
        )
    make_case(world.grid_b1x, sub)  # registered, not dispatched: no rate changes
    streets = metrics.league(SEPTEMBER, "street")
    assert [(r.label, r.rank) for r in streets] == [("儒林街道", 1), ("香水园街道", 1)]
    assert streets[0].value("score") == pytest.approx(1.0)
    make_case(world.grid_a2x, sub)  # a street-A case never dispatched: response rate unchanged
    closed(world.grid_a2x, sub, rating=Rating.DISSATISFIED)
    streets = metrics.league(SEPTEMBER, "street")
    assert [(r.label, r.rank) for r in streets] == [("儒林街道", 1), ("香水园街道", 2)]
    assert metrics.league(SEPTEMBER, "department") == []


# --- Pages: permissions and scope ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def spread(world, sub):
    """One closed, rated case in each grid, registered yesterday, and one dispatched to the
    department in street B."""
    yesterday = timezone.now() - timedelta(days=1)
    for grid, rating in (
        (world.grid_a1x, Rating.SATISFIED),
        (world.grid_a1y, Rating.SATISFIED),
        (world.grid_a2x, Rating.DISSATISFIED),
        (world.grid_b1x, Rating.MOSTLY_SATISFIED),
    ):
        closed(grid, sub, rating=rating, registered_at=yesterday)
    make_case(
        world.grid_b1x,
        sub,
        Node.DISPATCHED,
        registered_at=yesterday,
        dispatched_at=yesterday,
        **handled_by(world.department),
    )


def page(client, user, **params):
    client.force_login(user)
    return client.get(reverse("cases:metrics"), params)


def test_residents_get_403_and_visitors_are_sent_to_sign_in(client, role_users):
    assert page(client, role_users[Role.RESIDENT]).status_code == 403
    client.logout()
    response = client.get(reverse("cases:metrics"))
    assert response.status_code == 302 and "login" in response["Location"]
    assert client.get(reverse("cases:metrics_export")).status_code == 302


@pytest.mark.parametrize(
    ("role", "cases", "satisfaction"),
    [
        (Role.WORKSTATION_STAFF, 2, "100.0%"),  # community A1: its two grids
        (Role.GRID_WORKER, 1, "100.0%"),  # grid A1x only
        (Role.STREET_STAFF, 3, "66.7%"),  # street A
        (Role.DEPARTMENT_STAFF, 1, "—"),  # only the case sent to the department
        (Role.DISTRICT_ADMIN, 5, "75.0%"),
    ],
)
def test_each_role_sees_figures_of_its_own_cases_only(
    client, role_users, spread, role, cases, satisfaction
):
    response = page(client, role_users[role])
    assert response.status_code == 200
    assert response.context["report"].totals.value("cases") == cases
    card = next(c for c in response.context["cards"] if c["key"] == "satisfaction_rate")
    assert card["display"] == satisfaction


def test_workstation_grouped_by_street_sees_only_its_community_cases(client, role_users, spread):
    response = page(client, role_users[Role.WORKSTATION_STAFF], group="street")
    assert [(r.label, r.value("cases")) for r in response.context["report"].rows] == [
        ("香水园街道", 2)
    ]
    assert "儒林" not in response.content.decode()


def test_page_has_cards_with_definitions_charts_and_a_sortable_table(client, role_users, spread):
    text = page(client, role_users[Role.STREET_STAFF], sort="satisfaction_rate", dir="asc")
    html = text.content.decode()
    definition = str(metrics.MEASURE_BY_KEY["satisfaction_rate"].definition)
    assert f'title="{definition}"' in html
    assert 'role="tooltip" id="tip-satisfaction_rate"' in html
    assert 'aria-describedby="tip-satisfaction_rate"' in html
    assert html.count("data-chart=") == 2
    assert 'aria-sort="ascending"' in html
    assert "sort=satisfaction_rate&amp;dir=desc" in html  # the sorted column's link reverses
    labels = [r.label for r in text.context["report"].rows]
    assert labels == ["新兴西社区", "香水园社区"]  # 0 % before 100 %
    assert "张三" not in html and "13800138000" not in html


def test_bad_filters_are_reported_and_the_default_period_is_shown(client, role_users, spread):
    user = role_users[Role.STREET_STAFF]
    response = page(client, user, month="2025-09", date_from="2025-09-01", date_to="2025-09-30")
    html = response.content.decode()
    assert "Choose a month or a date range, not both." in html
    assert response.context["period"] == Period.last_months(12)
    response = page(client, user, date_from="2025-10-01", date_to="2025-09-01")
    assert "The first day must not be after the last day." in response.content.decode()
    response = page(client, user, sort="caller_phone", month="2025-09")
    assert "The table cannot be sorted by that column." in response.content.decode()
    assert response.context["period"] == SEPTEMBER  # a bad sort keeps the chosen month
    assert page(client, user, group="nonsense").status_code == 200


def test_every_grouping_renders_within_a_bounded_number_of_queries(
    client, role_users, spread, django_assert_max_num_queries
):
    user = role_users[Role.STREET_STAFF]
    client.force_login(user)
    for dimension in metrics.DIMENSIONS:
        with django_assert_max_num_queries(16):
            response = client.get(reverse("cases:metrics"), {"group": dimension.key})
        assert response.status_code == 200, dimension.key


# --- Export -----------------------------------------------------------------------------------


def test_export_has_the_table_with_totals_and_is_audited(client, role_users, spread):
    user = role_users[Role.STREET_STAFF]
    client.force_login(user)
    response = client.get(reverse("cases:metrics_export"), {"group": "community"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="case_metrics-')
    sheet = load_workbook(BytesIO(response.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:4] == ["Community", "Cases", "Response rate (%)", "Resolution rate (%)"]
    body = {row[0]: row for row in rows[1:]}
    assert set(body) == {"香水园社区", "新兴西社区", "All cases"}
    satisfaction = rows[0].index("Satisfaction rate (%)")
    assert body["香水园社区"][satisfaction] == 100.0
    assert body["All cases"][satisfaction] == 66.7
    assert body["香水园社区"][rows[0].index("Response rate (%)")] == 0.0  # nobody contacted
    response = client.get(reverse("cases:metrics_export"), {"month": "2025-01"})
    sheet = load_workbook(BytesIO(response.content)).active
    empty = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert len(empty) == 2 and empty[1][:3] == ["All cases", 0, "—"]  # no case: no rate, not 0
    with unscoped():
        entry = AuditEntry.objects.filter(action__startswith="export.case_metrics").first()
    assert (
        entry is not None and entry.actor == user and entry.kind == AuditEntry.Kind.SENSITIVE_READ
    )
    assert entry.territory_code == world_street_code(user)


def world_street_code(user) -> str:
    return user.active_grants[0].node_code


def test_export_writes_names_as_text_never_as_formulas(client, role_users, world, sub):
    with unscoped():
        world.community_a1.name = '=HYPERLINK("http://evil","x")'
        world.community_a1.save()
    closed(world.grid_a1x, sub, registered_at=timezone.now() - timedelta(days=1))
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(reverse("cases:metrics_export"))
    cell = load_workbook(BytesIO(response.content)).active["A2"]
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s"


def test_export_refuses_bad_filters_and_writes_no_audit_entry(client, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(reverse("cases:metrics_export"), {"date_from": "2025-09-01"})
    assert response.status_code == 400
    assert "Give both the first and the last day of the range." in response.content.decode()
    with unscoped():
        assert not AuditEntry.objects.filter(action__startswith="export.case_metrics").exists()


def test_export_rows_are_capped(client, role_users, spread, settings):
    settings.JIEDAO_EXPORT_MAX_ROWS = 1
    client.force_login(role_users[Role.DISTRICT_ADMIN])
    response = client.get(reverse("cases:metrics_export"), {"group": "community"})
    rows = list(load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))
    assert len(rows) == 3 and rows[2][0].startswith("Only the first 1 rows")


# --- The public league ------------------------------------------------------------------------


def test_public_league_needs_no_sign_in_and_shows_no_personal_data(client, world, sub):
    closed(world.grid_a1x, sub, rating=Rating.SATISFIED, registered_at=at(10))
    closed(world.grid_b1x, sub, rating=Rating.DISSATISFIED, registered_at=at(11))
    done = closed(world.grid_b1x, sub, registered_at=at(12))
    dispatched_event(done, handler_type=HandlerType.DEPARTMENT, department=world.department.pk)
    response = client.get(reverse("cases:league"), {"month": "2025-09"})
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("香水园街道", "儒林街道", "区城市管理委员会"):
        assert name in html
    for private in ("张三", "13800138000", "楼道灯坏了", "110119001001001"):
        assert private not in html
    streets = response.context["tables"][0]["rows"]
    # Street A: one case, satisfied but neither responded to in time nor solved → score 1/3;
    # street B: dissatisfied → 0.
    assert [(r["rank"], r["label"]) for r in streets] == [(1, "香水园街道"), (2, "儒林街道")]
    assert streets[0]["cells"][0] == "33.3%"  # the score, first after the name


def test_public_league_defaults_to_last_month_and_rejects_future_months(client, world):
    response = client.get(reverse("cases:league"))
    assert response.context["period"] == Period.previous_month()
    future = (timezone.localdate() + timedelta(days=62)).strftime("%Y-%m")
    response = client.get(reverse("cases:league"), {"month": future, "sort": "caller_name"})
    html = response.content.decode()
    assert "Choose a month between 2000 and this month." in html
    assert "The table cannot be sorted by that column." in html
    assert response.context["period"] == Period.previous_month()


def test_public_league_sorts_both_tables_with_aria_sort(client, world, sub):
    closed(world.grid_a1x, sub, registered_at=at(10))
    closed(world.grid_a1x, sub, registered_at=at(10))
    closed(world.grid_b1x, sub, registered_at=at(10))
    response = client.get(
        reverse("cases:league"), {"month": "2025-09", "sort": "cases", "dir": "asc"}
    )
    streets = response.context["tables"][0]["rows"]
    assert [r["label"] for r in streets] == ["儒林街道", "香水园街道"]
    assert 'aria-sort="ascending"' in response.content.decode()


def test_public_league_query_count_is_bounded(client, world, sub, django_assert_max_num_queries):
    for grid in (world.grid_a1x, world.grid_a2x, world.grid_b1x):
        dispatched_event(
            closed(grid, sub, registered_at=at(10)),
            handler_type=HandlerType.DEPARTMENT,
            department=world.department.pk,
        )
    with django_assert_max_num_queries(8):
        assert client.get(reverse("cases:league"), {"month": "2025-09"}).status_code == 200

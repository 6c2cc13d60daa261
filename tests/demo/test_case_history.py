"""The demo's year of cases: determinism, the workflow's rules, open work at every node and in
every demo sign-in's inbox, the catalogue and the routing table."""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import translation

from jiedao.accounts.models import User
from jiedao.audit.models import AuditEntry
from jiedao.cases import selectors, services
from jiedao.cases.catalogue import catalogue_rows
from jiedao.cases.models import (
    DEPARTMENT_HANDLERS,
    FINAL_NODES,
    HANDLER_NODES,
    Case,
    CaseEvent,
    Category,
    ExtensionState,
    HandlerType,
    Node,
    PublicStatus,
    Rating,
    RoutingRule,
    Summons,
)
from jiedao.cases.routing import resolve_route
from jiedao.cases.workflow import TABLE
from jiedao.core.crypto import blind_index, blind_index_candidates, decrypt
from jiedao.core.scopes import unscoped
from jiedao.demo import cases as demo_cases
from jiedao.demo import world
from jiedao.demo.world import Plan, WorldBuilder
from jiedao.territory.models import Department
from jiedao.workdays.calendar import SHANGHAI, add_hours

pytestmark = pytest.mark.django_db  # also makes pytest-django set the test database up

NOW = datetime(2026, 11, 18, 10, 30, tzinfo=SHANGHAI)  # a Wednesday
SCALE = 0.05
OPEN_NODES = {n for n in Node.values if n not in FINAL_NODES}


def build(seed: int, scale: float) -> WorldBuilder:
    """The world without its cases, then the cases up to the fixed NOW."""
    with mock.patch.object(world, "add_case_history", lambda builder: None):
        builder = WorldBuilder(Plan.for_scale(seed, scale))
        builder.build()
    with unscoped(), transaction.atomic():
        demo_cases.add_case_history(builder, NOW)
    return builder


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """One small world with its history for the whole module (tests only read it, or write
    inside a savepoint they roll back)."""
    # Built in English like every test's own writes (deadline notes are stored as text).
    with django_db_blocker.unblock(), transaction.atomic(), translation.override("en"):
        builder = build(2026, SCALE)
        with unscoped():
            yield builder
        transaction.set_rollback(True)


def history_snapshot() -> dict:
    cases = Case.objects.order_by("pk")
    return {
        "count": cases.count(),
        "nodes": Counter(cases.values_list("node", flat=True)),
        "rows": list(
            cases.values_list("category__code", "channel", "node", "created_at", "description")
        ),
        "events": CaseEvent.objects.count(),
    }


def regenerate(builder: WorldBuilder) -> dict:
    """Throw the cases away and generate them again, inside a savepoint that is rolled back."""
    with transaction.atomic():
        CaseEvent.objects.all().delete()
        Summons.objects.all().delete()
        Case.objects.update(merged_into=None)
        Case.objects.all().delete()
        demo_cases.add_case_history(builder, NOW)
        data = history_snapshot()
        transaction.set_rollback(True)
    return data


def test_the_same_seed_gives_the_same_history_and_another_seed_another(demo):
    first = history_snapshot()
    assert regenerate(demo) == first
    other = copy.copy(demo)
    other.plan = replace(demo.plan, seed=demo.plan.seed + 1)
    different = regenerate(other)
    assert different["rows"] != first["rows"]
    assert set(different["nodes"]) & OPEN_NODES == OPEN_NODES  # the showcases are always there


def test_the_volume_follows_the_scale_and_the_seasons(demo):
    expected = demo_cases.CASES_PER_YEAR * SCALE + len(demo_cases.SHOWCASES)
    cases = Case.objects.all()
    assert 0.85 * expected <= cases.count() <= 1.15 * expected
    first, last = (
        cases.order_by(f).values_list("created_at", flat=True)[0]
        for f in ("created_at", "-created_at")
    )
    assert NOW - timedelta(days=366) < first and last <= NOW
    heating = [
        c.astimezone(SHANGHAI).month
        for c in cases.filter(category__code="M0201").values_list("created_at", flat=True)
    ]
    assert heating and sum(m in (11, 12, 1, 2, 3) for m in heating) / len(heating) > 0.8
    weekend = cases.filter(created_at__week_day__in=[1, 7]).count() / cases.count()
    assert weekend < 2 / 7  # fewer cases at weekends


def test_the_mix_of_channels_and_outcomes_is_believable(demo):
    cases = Case.objects.all()
    total = cases.count()
    channels = Counter(cases.values_list("channel", flat=True))
    assert channels.most_common(1)[0][0] == "hotline"
    assert {"hotline", "web", "patrol", "service_centre", "api"} <= set(channels)
    assert 0.01 <= cases.filter(node=Node.REJECTED).count() / total <= 0.07
    assert 0.02 <= cases.filter(urgent=True).count() / total <= 0.10
    rated = cases.exclude(rating="")
    content = rated.exclude(rating=Rating.DISSATISFIED).count() / rated.count()
    assert 0.7 <= content <= 0.92
    assert cases.filter(return_count__gt=0).exists() and cases.filter(rework_count__gt=0).exists()
    assert cases.filter(reopen_count__gt=0).exists()
    assert cases.filter(extension=ExtensionState.APPROVED).exists()
    assert Summons.objects.exists()
    assert Summons.objects.filter(reported_at__gt=F("report_due")).exists()  # late 报到
    patrol = cases.filter(channel="patrol")
    assert not patrol.exclude(caller_name="", caller_phone="").exists()
    assert not patrol.exclude(rating="").exists()  # nobody to call back
    called = cases.exclude(contacted_at=None)
    assert called.filter(contacted_at__lte=F("contact_due")).count() / called.count() > 0.85


def test_every_case_keeps_the_databases_rules(demo):
    cases = Case.objects.all()
    for case in cases.filter(node__in=sorted(HANDLER_NODES)):
        if case.handler_type in DEPARTMENT_HANDLERS:
            assert case.handler_department_id and not case.handler_unit_code
        else:
            assert case.handler_unit_code and case.handler_department_id is None
    assert not cases.exclude(node__in=sorted(HANDLER_NODES)).exclude(handler_type="").exists()
    assert not cases.filter(node=Node.CLOSED, verified_at=None).exists()
    closed = Q(node__in=[Node.CLOSED, Node.REJECTED]) | Q(node=Node.MERGED, closed_at__isnull=False)
    assert not cases.filter(closed).exclude(public_status=PublicStatus.CLOSED).exists()
    assert not cases.exclude(closed).exclude(public_status=PublicStatus.OPEN).exists()
    for case in cases.select_related("grid"):
        assert case.territory_code == case.grid.code
        assert case.community_code == case.grid.code[:12]
    merged = cases.filter(node=Node.MERGED)
    assert merged.exists() and not merged.filter(merged_into=None).exists()
    assert (
        not cases.filter(handler_type=HandlerType.PROPERTY, handler_organisation=None)
        .filter(node__in=sorted(HANDLER_NODES))
        .exists()
    )


def test_callers_are_stored_encrypted_and_found_by_their_phone(demo):
    """The bulk insert writes what the model would: ciphertext and the blind index."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, caller_name, caller_phone, caller_phone_index FROM cases_case "
            "WHERE caller_phone <> '' ORDER BY id"
        )
        rows = cursor.fetchall()
    assert len(rows) > 100
    for _pk, name, phone, index in rows[:200]:
        plain = decrypt(phone)
        assert plain.isdigit() and len(plain) == 11 and plain not in phone
        assert index == blind_index("phone", plain)
        assert name == "" or decrypt(name) != name
    pk, _, phone, _ = rows[0]
    found = Case.objects.filter(
        caller_phone_index__in=blind_index_candidates("phone", f"+86 {decrypt(phone)}")
    )
    assert pk in set(found.values_list("pk", flat=True))
    assert not Case.objects.filter(caller_phone="").exclude(caller_phone_index="").exists()


def test_events_chain_from_node_to_node_and_the_counters_equal_them(demo):
    events: dict[int, list[CaseEvent]] = {}
    for event in CaseEvent.objects.order_by("case_id", "at", "pk"):
        events.setdefault(event.case_id, []).append(event)
    cases = Case.objects.all()
    assert set(events) == set(cases.values_list("pk", flat=True))
    for case in cases:
        chain = events[case.pk]
        assert (chain[0].action, chain[0].from_node, chain[0].to_node) == ("submit", "", "received")
        assert chain[0].at == case.created_at
        for before, after in itertools.pairwise(chain):
            assert after.from_node == before.to_node, case.pk
            assert after.at >= before.at
            if after.action != "close_with":
                assert TABLE[(after.from_node, after.action)].to == after.to_node
            assert after.territory_code == case.territory_code
        assert chain[-1].to_node == case.node
        actions = Counter(e.action for e in chain)
        assert case.return_count == actions["return"]
        assert case.rework_count == actions["rework"]
        assert case.reopen_count == actions["reopen"]
        assert bool(case.rating) == (actions["callback"] > actions["reopen"])


def test_deadlines_are_the_services_own(demo):
    """Registration and dispatch deadlines as services._start_the_clock and _dispatch set
    them, for the cases whose clock was not restarted or extended since."""
    plain = Case.objects.filter(reopen_count=0, registered_at__isnull=False).exclude(
        extension=ExtensionState.APPROVED
    )
    for case in plain.select_related("category")[:300]:
        again = Case(category=case.category, urgent=case.urgent, grid_id=case.grid_id)
        again.territory_code = case.territory_code
        services.start_the_clock(again, case.registered_at)
        assert (again.resolve_due, again.contact_due) == (case.resolve_due, case.contact_due)
        assert again.deadline_note == case.deadline_note
        if case.dispatched_at:
            minutes = (
                case.category.urgent_acknowledge_minutes
                if case.urgent
                else case.category.acknowledge_minutes
            )
            assert case.acknowledge_due == add_hours(case.dispatched_at, minutes / 60)


def test_the_last_weeks_are_open_at_every_node_some_overdue_some_nearly_due(demo):
    open_cases = Case.objects.exclude(node__in=sorted(FINAL_NODES))
    assert set(open_cases.values_list("node", flat=True)) == OPEN_NODES
    assert open_cases.filter(resolve_due__lt=NOW).exists()
    assert open_cases.filter(
        resolve_due__gte=NOW, resolve_due__lt=NOW + timedelta(hours=36)
    ).exists()
    assert open_cases.filter(extension=ExtensionState.REQUESTED).exists()
    assert not open_cases.filter(created_at__lt=NOW - timedelta(days=60)).exists()


def inbox(username: str, builder: WorldBuilder) -> dict[str, int]:
    """What each demo sign-in has to do now, among the cases it may see."""
    user = User.objects.get(username=username)
    visible = selectors.cases(user).exclude(node__in=sorted(FINAL_NODES))
    street = Q(node__in=[Node.RECEIVED, Node.REGISTERED, Node.VERIFIED])
    handling = Q(node__in=[Node.DISPATCHED, Node.ACKNOWLEDGED, Node.IN_PROGRESS])
    community = builder.communities[0].code
    grid = builder.sites[0].grid.code
    department = Department.objects.get(code=f"{builder.district.code[:6]}-CGW")
    unrated = selectors.cases(user).filter(node=Node.CLOSED, rating="").exclude(caller_phone="")
    return {
        "street": visible.filter(street).count(),
        "leader": visible.filter(extension=ExtensionState.REQUESTED).count(),
        "workstation": visible.filter(
            handling,
            handler_unit_code=community,
            handler_type__in=[HandlerType.COMMUNITY, HandlerType.PROPERTY],
        ).count()
        + unrated.filter(community_code=community).count(),
        "gridworker": visible.filter(node=Node.HANDLED, territory_code=grid).count()
        + unrated.filter(territory_code=grid).count(),
        "department": visible.filter(handling, handler_department=department).count()
        + Summons.objects.filter(department=department, reported_at=None).count(),
        "committee": visible.filter(community_code=community).count(),
        "district": visible.count(),
        "admin": visible.count(),
    }[username]


@pytest.mark.parametrize(
    "username",
    [
        "street",
        "leader",
        "workstation",
        "gridworker",
        "department",
        "committee",
        "district",
        "admin",
    ],
)
def test_each_demo_sign_in_has_work_waiting(demo, username):
    assert inbox(username, demo) > 0


def test_the_resident_reported_five_cases_in_various_states(demo):
    resident = User.objects.get(username="resident")
    mine = selectors.reported_by(resident)
    assert mine.count() == 5
    assert len(set(mine.values_list("node", flat=True))) >= 4
    assert mine.filter(node=Node.CLOSED, rating="").exists()  # waiting for the caller's rating
    assert mine.filter(node=Node.CLOSED).exclude(rating="").exists()
    assert not mine.exclude(community_code=demo.communities[0].code).exists()
    assert set(selectors.cases(resident).values_list("pk", flat=True)) == set(
        mine.values_list("pk", flat=True)
    )


def test_the_catalogue_is_loaded_and_every_department_category_has_a_route(demo):
    assert Category.objects.count() == len(catalogue_rows())
    assert RoutingRule.objects.count() == len(demo_cases.DEMO_ROUTES) + len(
        demo_cases.COMMUNITY_ROUTES
    )
    grid = demo.sites[-1].grid.code
    for category in Category.objects.filter(parent__isnull=False):
        route = resolve_route(category, grid)
        if route.handler_type in DEPARTMENT_HANDLERS:
            assert route.department is not None, category.code
    drainage = resolve_route(Category.objects.get(name="排水管道"), grid)
    assert drainage.department.code.endswith("-SWJ")
    dispatched = Counter(
        Case.objects.filter(dispatched_at__isnull=False).values_list(
            "category__handler_type", flat=True
        )
    )
    assert dispatched[HandlerType.DEPARTMENT] > 0


def test_departments_receive_cases(demo):
    """Department cases end with no handler once closed; the dispatch events name them."""
    dispatches = CaseEvent.objects.filter(action="dispatch")
    routed = Counter(
        Case.objects.filter(pk__in=dispatches.values("case_id"))
        .filter(category__code__in=list(demo_cases.DEMO_ROUTES))
        .values_list("category__code", flat=True)
    )
    assert sum(routed.values()) > 20
    open_departments = set(
        Case.objects.exclude(handler_department=None).values_list(
            "handler_department__code", flat=True
        )
    )
    assert f"{demo.district.code[:6]}-CGW" in open_departments


def test_generation_is_audited_once_not_per_case(demo):
    entries = AuditEntry.all_objects
    assert entries.filter(action="cases.category.create").count() == len(catalogue_rows())
    assert entries.count() < Case.objects.count()


@pytest.mark.parametrize(
    ("username", "which", "action"),
    [
        ("street", {"node": Node.RECEIVED}, "register"),
        (
            "workstation",
            {"node": Node.DISPATCHED, "handler_type": HandlerType.COMMUNITY},
            "acknowledge",
        ),
        ("workstation", {"node": Node.ACKNOWLEDGED, "handler_type": HandlerType.PROPERTY}, "start"),
        ("gridworker", {"node": Node.HANDLED}, "verify"),
        ("leader", {"extension": ExtensionState.REQUESTED}, "approve_extension"),
        (
            "department",
            {"node": Node.DISPATCHED, "handler_department__code__endswith": "-CGW"},
            "acknowledge",
        ),
    ],
)
def test_the_demo_sign_ins_can_act_on_their_items_through_the_services(
    demo, username, which, action
):
    user = User.objects.get(username=username)
    case = selectors.cases(user).filter(grid=demo.sites[0].grid, **which).first()
    assert case is not None
    before = case.events.count()
    services.transition(user, case, action, note="演示")
    assert case.events.count() == before + 1


def test_new_cases_get_fresh_ids_after_the_generated_ones(demo):
    from tests.cases.conftest import submit

    last = Case.objects.order_by("-pk").values_list("pk", flat=True)[0]
    new = submit(demo.sites[0].grid, Category.objects.get(code="M0701"))
    assert new.pk > last


def test_answers_to_the_open311_questions_fit_the_categorys_attributes(demo):
    answered = Case.objects.exclude(category__attributes=[]).select_related("category")
    assert answered.exists()
    for case in answered:
        for attribute in case.category.attributes:
            value = case.attributes.get(attribute["code"])
            if attribute["required"]:
                assert value is not None, (case.category.code, attribute["code"])
            if value is None:
                continue
            if attribute["datatype"] == "singlevaluelist":
                assert value in {v["key"] for v in attribute["values"]}
            elif attribute["datatype"] == "number":
                assert isinstance(value, int | float)
    heating = answered.filter(category__code="M0201").first()
    assert heating is None or f"{heating.attributes['indoor_temperature']}℃" in heating.description

"""Field-work pages and endpoints: every role × inside and outside its territory (written out by
hand), what each page shows, the JSON track upload's errors, exports and the outbox hooks."""

from __future__ import annotations

import json
from datetime import timedelta
from io import BytesIO

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.cases.models import Category, HandlerType
from jiedao.cases.services import submit_case
from jiedao.core.scopes import unscoped
from jiedao.fieldwork import selectors, services
from jiedao.fieldwork.models import Patrol, PatrolFinding, TrackPoint
from jiedao.registry.models import Visit
from tests.fieldwork.conftest import inside, make_patrol, walk

pytestmark = pytest.mark.django_db

ROLES = list(Role)
WORKERS_ONLY = {Role.GRID_WORKER}
# Who opens the lists (patrols, attendance) and patrol pages; what they list is scoped.
TAKES_PART = {
    Role.GRID_WORKER,
    Role.WORKSTATION_STAFF,
    Role.STREET_STAFF,
    Role.STREET_LEADER,
    Role.DISTRICT_ADMIN,
    Role.SYSTEM_ADMIN,
}
ALL = {"a1x", "a1x_colleague", "a1y", "a2x", "b1x"}
# Whose patrols each role sees (by the worker's grid): a grid worker only their own, never a
# colleague's in the same grid; a community its grids; a street its communities.
VISIBLE = {
    Role.GRID_WORKER: {"a1x"},
    Role.WORKSTATION_STAFF: {"a1x", "a1x_colleague", "a1y"},
    Role.COMMITTEE_MEMBER: set(),
    Role.STREET_STAFF: {"a1x", "a1x_colleague", "a1y", "a2x"},
    Role.STREET_LEADER: {"a1x", "a1x_colleague", "a1y", "a2x"},
    Role.DISTRICT_ADMIN: ALL,
    Role.SYSTEM_ADMIN: ALL,
    Role.RESIDENT: set(),
    Role.DEPARTMENT_STAFF: set(),
}


def grid_of(world, key):
    return getattr(world, f"grid_{key[:3]}")


@pytest.fixture
def patrols(world, workers):
    """One ended patrol of each worker, two hours ago for an hour."""
    start = timezone.now() - timedelta(hours=2)
    return {
        key: make_patrol(
            user, grid_of(world, key), started_at=start, ended_at=start + timedelta(hours=1)
        )
        for key, user in workers.items()
    }


def login(client, user):
    client.force_login(user)
    return client


def upload(client, patrol, body, **extra):
    return client.post(
        reverse("fieldwork:track_upload", args=[patrol.pk]),
        data=body if isinstance(body, str | bytes) else json.dumps(body),
        content_type="application/json",
        **extra,
    )


# --- The matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_worker_pages(client, world, role_users, role):
    login(client, role_users[role])
    expected = 200 if role in WORKERS_ONLY else 403
    assert client.get(reverse("fieldwork:today")).status_code == expected
    assert client.get(reverse("fieldwork:visit")).status_code == expected
    assert client.get(reverse("fieldwork:visit"), {"q": "香水园"}).status_code == expected


@pytest.mark.parametrize("role", ROLES)
def test_patrol_list_inside_and_outside(client, world, role_users, workers, patrols, role):
    login(client, role_users[role])
    response = client.get(reverse("fieldwork:patrol_list"))
    if role not in TAKES_PART:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    listed = {p.pk for p in response.context["page_obj"].object_list}
    assert listed == {patrols[key].pk for key in VISIBLE[role]}


@pytest.mark.parametrize("role", ROLES)
def test_attendance_inside_and_outside(client, world, role_users, workers, patrols, role):
    login(client, role_users[role])
    response = client.get(reverse("fieldwork:attendance"))
    if role not in TAKES_PART:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    shown = {r.worker.pk for r in response.context["report"].rows}
    assert shown == {workers[key].pk for key in VISIBLE[role]} | (
        {workers["a1x_colleague"].pk} if role == Role.WORKSTATION_STAFF else set()
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(ALL))
def test_patrol_page_inside_and_outside(client, world, role_users, workers, patrols, role, key):
    login(client, role_users[role])
    response = client.get(reverse("fieldwork:patrol_detail", args=[patrols[key].pk]))
    if role not in TAKES_PART:
        assert response.status_code == 403
    else:
        assert response.status_code == (200 if key in VISIBLE[role] else 404), (role, key)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(ALL))
def test_track_upload_inside_and_outside(client, world, role_users, workers, patrols, role, key):
    patrol = patrols[key]
    login(client, role_users[role])
    points = walk(patrol.started_at + timedelta(minutes=5), 3, inside(grid_of(world, key)))
    response = upload(client, patrol, {"points": points})
    own = role == Role.GRID_WORKER and key == "a1x"
    if own:
        assert response.status_code == 200 and response.json()["accepted"] == 3
    else:
        # Seen but not theirs: refused; not seen at all: not found.
        assert response.status_code == (403 if key in VISIBLE[role] else 404), (role, key)
        assert set(response.json()) == {"code", "message"}
    with unscoped():
        assert TrackPoint.objects.filter(patrol=patrol).count() == (3 if own else 0)


@pytest.mark.parametrize("role", ROLES)
def test_start_and_end_a_patrol(client, world, role_users, workers, role):
    login(client, role_users[role])
    response = client.post(
        reverse("fieldwork:patrol_start"), {"grid": world.grid_a1x.pk, "key": "start-key-0001"}
    )
    if role not in WORKERS_ONLY:
        assert response.status_code == 403
        assert Patrol.all_objects.count() == 0
        colleague = make_patrol(workers["a1x"], world.grid_a1x)
        end = client.post(
            reverse("fieldwork:patrol_end", args=[colleague.pk]), {"key": "end-key-0001"}
        )
        assert end.status_code == 403 and Patrol.all_objects.get(pk=colleague.pk).ended_at is None
        return
    assert response.status_code == 302
    patrol = Patrol.all_objects.get()
    assert patrol.worker == role_users[role]
    end = client.post(
        reverse("fieldwork:patrol_end", args=[patrol.pk]), {"key": "end-key-0001", "note": "ok"}
    )
    assert end.status_code == 302 and Patrol.all_objects.get().ended_at is not None


def test_a_grid_worker_cannot_start_in_another_grid_nor_end_a_colleagues(client, world, workers):
    login(client, workers["a1x"])
    response = client.post(
        reverse("fieldwork:patrol_start"), {"grid": world.grid_b1x.pk, "key": "start-key-0001"}
    )
    assert response.status_code == 403 and Patrol.all_objects.count() == 0
    theirs = make_patrol(workers["a1x_colleague"], world.grid_a1x)
    end = client.post(reverse("fieldwork:patrol_end", args=[theirs.pk]), {"key": "end-key-0001"})
    assert end.status_code == 404 and Patrol.all_objects.get(pk=theirs.pk).ended_at is None


def test_visits_only_to_households_of_the_own_grid(client, world, workers):
    login(client, workers["a1x"])
    ours, theirs = world.persons["a1x"].household, world.persons["a1y"].household
    assert client.get(reverse("fieldwork:visit"), {"household": theirs.pk}).status_code == 404
    refused = client.post(
        reverse("fieldwork:visit"),
        {"household": theirs.pk, "note": "走访", "key": "visit-key-0001"},
    )
    assert refused.status_code == 404
    done = client.post(
        reverse("fieldwork:visit"), {"household": ours.pk, "note": "走访", "key": "visit-key-0001"}
    )
    assert done.status_code == 302
    again = client.post(
        reverse("fieldwork:visit"), {"household": ours.pk, "note": "走访", "key": "visit-key-0001"}
    )
    assert again.status_code == 302
    with unscoped():
        assert list(Visit.objects.values_list("household_id", flat=True)) == [ours.pk]


@pytest.mark.parametrize("role", ROLES)
def test_whoami(client, role_users, role):
    login(client, role_users[role])
    assert client.get(reverse("fieldwork:whoami")).json() == {"user": role_users[role].pk}


def test_signed_out(client, world, patrols):
    for name in ("today", "visit", "patrol_list", "attendance"):
        response = client.get(reverse(f"fieldwork:{name}"))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert (
        client.get(reverse("fieldwork:patrol_detail", args=[patrols["a1x"].pk])).status_code == 302
    )
    assert client.post(reverse("fieldwork:patrol_start")).status_code == 302
    assert upload(client, patrols["a1x"], {"points": []}).status_code == 401
    assert client.get(reverse("fieldwork:whoami")).status_code == 401


# --- The track upload's answers -------------------------------------------------------------


@pytest.fixture
def open_patrol(world, worker):
    return make_patrol(worker, world.grid_a1x, started_at=timezone.now() - timedelta(minutes=30))


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "bad_json"),
        (b"\xff\xfe\x00", "bad_json"),
        ("", "bad_json"),
        ("[]", "bad_request"),
        ('{"points": {"t": 1}}', "bad_request"),
        ('"points"', "bad_request"),
        ('{"points": [], "crs": "mars"}', "crs"),
        ('{"points": [], "crs": 5}', "crs"),
    ],
)
def test_malformed_uploads_are_clear_400s(client, worker, open_patrol, body, code):
    login(client, worker)
    response = upload(client, open_patrol, body)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["message"]


def test_an_oversized_upload_is_413(client, worker, open_patrol, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    login(client, worker)
    response = upload(client, open_patrol, {"points": [{"t": "x" * 2000}]})
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_an_upload_answers_with_counts_and_reasons(client, world, worker, open_patrol):
    login(client, worker)
    points = walk(
        open_patrol.started_at + timedelta(minutes=1), 4, inside(world.grid_a1x), step_m=25
    )
    batch = [
        points[2],
        points[0],
        points[3],
        points[1],
        points[1],
        {"t": "soon", "lat": 40, "lng": 116},
    ]
    data = upload(client, open_patrol, {"points": batch}).json()
    assert (data["accepted"], data["duplicate"], data["distance_m"], data["point_count"]) == (
        4,
        1,
        75,
        4,
    )
    assert data["rejected"] == [
        {"index": 5, "code": "time", "message": data["rejected"][0]["message"]}
    ]
    again = upload(client, open_patrol, {"points": points}).json()
    assert (again["accepted"], again["duplicate"], again["rejected"]) == (0, 4, [])


def test_the_upload_needs_the_csrf_header(world, worker, open_patrol):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(worker)
    page = client.get(reverse("fieldwork:today"))
    token = page.cookies["csrftoken"].value
    points = walk(open_patrol.started_at + timedelta(minutes=1), 2, inside(world.grid_a1x))
    assert upload(client, open_patrol, {"points": points}).status_code == 403
    accepted = upload(client, open_patrol, {"points": points}, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200 and accepted.json()["accepted"] == 2


# --- What the pages show ----------------------------------------------------------------------


def test_the_day_page_with_and_without_a_patrol(client, world, worker):
    login(client, worker)
    page = client.get(reverse("fieldwork:today")).content.decode()
    assert 'data-patrol data-state="none"' in page and reverse("fieldwork:patrol_start") in page
    assert reverse("cases:patrol") in page and reverse("fieldwork:visit") in page
    assert page.count("data-outbox=") == 1  # the start form
    client.post(reverse("fieldwork:patrol_start"), {"key": "start-key-0001"})  # the only grid
    patrol = Patrol.all_objects.get()
    page = client.get(reverse("fieldwork:today"))
    html = page.content.decode()
    assert f'data-upload-url="{reverse("fieldwork:track_upload", args=[patrol.pk])}"' in html
    assert "data-patrol-end" in html and f'data-owner="{worker.pk}"' in html
    labels = {str(t["label"]) for t in page.context["tiles"]}
    assert {"Verify on site", "Call the caller back", "Residents to verify"} <= labels


def test_the_patrol_page_draws_the_track_and_findings(client, world, worker, open_patrol):
    login(client, worker)
    points = walk(open_patrol.started_at + timedelta(minutes=1), 5, inside(world.grid_a1x))
    points[2]["accuracy"] = 500
    upload(client, open_patrol, {"points": points})
    response = client.get(reverse("fieldwork:patrol_detail", args=[open_patrol.pk]))
    geojson = json.loads(response.context["geojson"])
    grid, line = (feature["geometry"] for feature in geojson["features"][:2])
    assert grid == world.grid_a1x.boundary  # the grid underneath the track
    assert line["type"] == "LineString"
    html = response.content.decode()
    assert (
        "data-map data-geojson" in html and "data-patrol-end" in html
    )  # own open patrol: recorder too
    assert "1 point was left out of the track" in html
    # A straight walk is drawn as its two ends; the flagged fix is not on the line.
    used = [[p["lng"], p["lat"]] for i, p in enumerate(points) if i != 2]
    assert line["coordinates"] == [used[0], used[-1]]


def test_a_patrol_report_on_patrol_becomes_a_finding(client, world, worker, open_patrol):
    from jiedao.cases.models import Category, HandlerType

    main = Category.objects.create(code="01", name="市容环境", handler_type=HandlerType.STREET)
    sub = Category.objects.create(
        code="0101", name="垃圾清运", parent=main, handler_type=HandlerType.COMMUNITY
    )
    login(client, worker)
    form = client.get(reverse("cases:patrol")).content.decode()
    assert "data-outbox=" in form
    assert "data-outbox=" not in client.get(reverse("cases:report")).content.decode()
    lng, lat = inside(world.grid_a1x)
    fields = {
        "category": sub.pk,
        "description": "井盖缺失",
        "lng": lng,
        "lat": lat,
        "submission": "abc123",
    }
    assert client.post(reverse("cases:patrol"), fields).status_code == 302
    assert client.post(reverse("cases:patrol"), fields).status_code == 302  # resent by the outbox
    detail = client.get(reverse("fieldwork:patrol_detail", args=[open_patrol.pk]))
    assert len(detail.context["findings"]) == 1
    assert json.loads(detail.context["geojson"])["features"][-1]["properties"]["role"] == "child"


def test_visit_search_finds_households_of_the_own_grid_by_address(client, world, worker):
    login(client, worker)
    address = world.persons["a1x"].household.dwelling.address.full_text
    response = client.get(reverse("fieldwork:visit"), {"q": address[:6]})
    assert [h.pk for h in response.context["hits"]] == [world.persons["a1x"].household.pk]
    chosen = client.get(
        reverse("fieldwork:visit"), {"household": world.persons["a1x"].household.pk}
    )
    assert "data-outbox=" in chosen.content.decode()
    missing = client.post(
        reverse("fieldwork:visit"), {"household": world.persons["a1x"].household.pk, "note": ""}
    )
    assert missing.status_code == 200 and missing.context["form"].errors


def test_filters_and_exports(client, world, role_users, workers, patrols):
    login(client, role_users[Role.STREET_STAFF])
    by_worker = client.get(reverse("fieldwork:patrol_list"), {"worker": workers["a1y"].pk})
    assert [p.pk for p in by_worker.context["page_obj"].object_list] == [patrols["a1y"].pk]
    by_grid = client.get(reverse("fieldwork:patrol_list"), {"grid": world.grid_a1x.code})
    assert {p.pk for p in by_grid.context["page_obj"].object_list} == {
        patrols["a1x"].pk,
        patrols["a1x_colleague"].pk,
    }
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert (
        not client.get(reverse("fieldwork:patrol_list"), {"since": tomorrow})
        .context["page_obj"]
        .object_list
    )
    export = client.get(reverse("fieldwork:patrol_list"), {"format": "xlsx"})
    rows = list(load_workbook(BytesIO(export.content)).active.values)
    assert len(rows) == 1 + 4  # header and street A's four patrols
    month = client.get(reverse("fieldwork:attendance"), {"month": "2026-10", "format": "xlsx"})
    assert len(list(load_workbook(BytesIO(month.content)).active.values)) == 1 + 4
    with unscoped():
        actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"export.patrols", "export.attendance-2026-10"} <= actions
    bad = client.get(reverse("fieldwork:attendance"), {"month": "2026-13"})
    assert bad.status_code == 200 and bad.context["form"].errors


def test_navigation_and_home(client, world, role_users):
    login(client, role_users[Role.GRID_WORKER])
    home = client.get(reverse("core:home"))
    urls = {item.url_name for item in home.context["nav_items"]}
    assert "fieldwork:today" in urls and "fieldwork:patrol_list" not in urls
    assert "Field work today" in {str(t["label"]) for t in home.context["work"]}
    login(client, role_users[Role.STREET_STAFF])
    urls = {item.url_name for item in client.get(reverse("core:home")).context["nav_items"]}
    assert {
        "fieldwork:patrol_list",
        "fieldwork:attendance",
    } <= urls and "fieldwork:today" not in urls
    login(client, role_users[Role.RESIDENT])
    urls = {item.url_name for item in client.get(reverse("core:home")).context["nav_items"]}
    assert not any(name.startswith("fieldwork:") for name in urls)


# --- Review fixes: the signed-in user on every page -------------------------------------------


def test_every_page_names_its_signed_in_user(client, world, worker):
    """The phone's outbox and track recorder read the page's user (body data-user): kept
    forms and fixes of another user on a shared phone are never shown or sent."""
    signed_out = client.get(reverse("accounts:login")).content.decode()
    assert 'data-user=""' in signed_out
    login(client, worker)
    for name in ("today", "visit", "patrol_list"):
        page = client.get(reverse(f"fieldwork:{name}")).content.decode()
        assert f'data-user="{worker.pk}"' in page


# --- Findings the reader cannot open ----------------------------------------------------------


@pytest.fixture
def category(db):
    main = Category.objects.create(code="01", name="市容环境", handler_type=HandlerType.STREET)
    return Category.objects.create(
        code="0101", name="垃圾清运", parent=main, handler_type=HandlerType.COMMUNITY
    )


def test_a_finding_outside_the_readers_territory_shows_only_its_number(
    client, world, worker, role_users, category, patrols
):
    """A finding of an A1x patrol whose case lies in street B (linked before the community
    rule, or moved since): the community's staff see the case number, nothing of the case."""
    patrol = patrols["a1x"]
    near = submit_case(
        worker,
        channel="patrol",
        category=category,
        description="井盖缺失",
        lng=inside(world.grid_a1x)[0],
        lat=inside(world.grid_a1x)[1],
    ).case
    far = submit_case(
        worker,
        channel="patrol",
        category=category,
        description="路灯不亮，住户13812345678",
        lng=inside(world.grid_b1x)[0],
        lat=inside(world.grid_b1x)[1],
    ).case
    for case in (near, far):
        PatrolFinding.all_objects.create(patrol=patrol, case=case)
    login(client, role_users[Role.WORKSTATION_STAFF])
    response = client.get(reverse("fieldwork:patrol_detail", args=[patrol.pk]))
    html = response.content.decode()
    assert [(f.case_id, f.case is not None) for f in response.context["findings"]] == [
        (near.pk, True),
        (far.pk, False),
    ]
    assert "井盖缺失" in html and reverse("cases:detail", args=[near.pk]) in html
    assert f"Case {far.pk}" in html
    assert "路灯不亮" not in html and reverse("cases:detail", args=[far.pk]) not in html
    children = [
        feature["properties"]["url"]
        for feature in json.loads(response.context["geojson"])["features"]
        if feature["properties"]["role"] == "child"
    ]
    assert children == [reverse("cases:detail", args=[near.pk])]
    # The worker reported both and may open both (the case page's own rule).
    login(client, worker)
    assert (
        "路灯不亮"
        in client.get(reverse("fieldwork:patrol_detail", args=[patrol.pk])).content.decode()
    )


def test_a_long_track_is_drawn_simplified(client, world, worker):
    """Thousands of fixes do not all travel in the page: the line is simplified to ~2 m."""
    start = timezone.now() - timedelta(hours=3)
    points = walk(start, 1500, inside(world.grid_a1x), step_m=2, every_s=2)
    for i, point in enumerate(points):  # GPS noise under half a metre
        point["lat"] = round(point["lat"] + (0.000004 if i % 2 else -0.000004), 7)
    patrol, _result = services.import_patrol(
        worker, world.grid_a1x, points, started_at=start, ended_at=start + timedelta(hours=1)
    )
    geojson = json.loads(selectors.patrol_geojson(patrol, worker))
    line = geojson["features"][1]["geometry"]["coordinates"]  # after the grid
    assert len(line) <= 10
    assert line[0] == [points[0]["lng"], points[0]["lat"]]
    assert line[-1] == [points[-1]["lng"], points[-1]["lat"]]


# --- Bad times never make a 500 ---------------------------------------------------------------

OUT_OF_RANGE = "0001-01-01T00:00:00+14:00"


def test_a_time_out_of_range_is_a_rejected_fix_not_a_500(client, world, worker, open_patrol):
    login(client, worker)
    points = walk(open_patrol.started_at + timedelta(minutes=1), 2, inside(world.grid_a1x))
    points[1]["t"] = OUT_OF_RANGE
    response = upload(client, open_patrol, {"points": points})
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert [r["code"] for r in response.json()["rejected"]] == ["time"]


def test_a_start_queued_at_a_time_out_of_range_starts_now(client, world, worker):
    login(client, worker)
    response = client.post(
        reverse("fieldwork:patrol_start"), {"key": "start-key-0001", "queued_at": OUT_OF_RANGE}
    )
    assert response.status_code == 302
    assert timezone.now() - Patrol.all_objects.get().started_at < timedelta(seconds=5)


# --- Ending, and closing, a patrol --------------------------------------------------------------


def test_a_key_too_long_is_a_400_not_ignored(client, world, worker, open_patrol):
    login(client, worker)
    response = client.post(
        reverse("fieldwork:patrol_end", args=[open_patrol.pk]), {"key": "k" * 65, "note": "ok"}
    )
    assert response.status_code == 400
    assert "The form&#x27;s key is not valid" in response.content.decode()
    assert Patrol.all_objects.get(pk=open_patrol.pk).ended_at is None


def test_a_worker_moved_to_another_grid_ends_their_patrol_and_starts_anew(
    client, world, worker, open_patrol
):
    RoleGrant.objects.filter(user=worker).update(revoked_at=timezone.now())
    RoleGrant.objects.create(user=worker, role=Role.GRID_WORKER, grid=world.grid_a1y)
    login(client, worker)
    end = client.post(
        reverse("fieldwork:patrol_end", args=[open_patrol.pk]), {"key": "end-key-0001"}
    )
    assert end.status_code == 302 and Patrol.all_objects.get(pk=open_patrol.pk).ended_at
    assert client.get(end["Location"]).status_code == 200  # their own patrol's page
    start = client.post(reverse("fieldwork:patrol_start"), {"key": "start-key-0002"})
    assert start.status_code == 302
    assert Patrol.all_objects.filter(ended_at__isnull=True).get().grid == world.grid_a1y


def test_a_worker_out_of_grid_work_still_ends_their_patrol(client, world, worker, open_patrol):
    RoleGrant.objects.filter(user=worker).update(revoked_at=timezone.now())
    login(client, worker)
    end = client.post(
        reverse("fieldwork:patrol_end", args=[open_patrol.pk]), {"key": "end-key-0001"}
    )
    assert end.status_code == 302 and Patrol.all_objects.get(pk=open_patrol.pk).ended_at
    assert client.get(end["Location"]).status_code == 200


@pytest.fixture
def open_patrols(world, workers):
    """One patrol under way of each worker, started two hours ago."""
    start = timezone.now() - timedelta(hours=2)
    return {
        key: make_patrol(user, grid_of(world, key), started_at=start)
        for key, user in workers.items()
    }


SUPERVISING = TAKES_PART - {Role.GRID_WORKER}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(ALL))
def test_close_a_patrol_inside_and_outside(
    client, world, role_users, workers, open_patrols, role, key
):
    patrol = open_patrols[key]
    login(client, role_users[role])
    page = client.get(reverse("fieldwork:patrol_detail", args=[patrol.pk]))
    close_url = reverse("fieldwork:patrol_close", args=[patrol.pk])
    response = client.post(close_url)
    closes = role in SUPERVISING and key in VISIBLE[role]
    if closes:
        assert page.status_code == 200 and close_url in page.content.decode()
        assert response.status_code == 302
    elif role not in TAKES_PART:
        assert response.status_code == 403
    elif key in VISIBLE[role]:  # the grid worker's own patrol: they end it, not close it
        assert response.status_code == 403 and close_url not in page.content.decode()
    else:
        assert response.status_code == 404, (role, key)
    assert (Patrol.all_objects.get(pk=patrol.pk).ended_at is not None) is closes
    with unscoped():
        closed = AuditEntry.objects.filter(action="fieldwork.patrol.close").count()
    assert closed == (1 if closes else 0)


def test_closing_needs_a_post_and_an_open_patrol(client, world, role_users, workers, patrols):
    login(client, role_users[Role.STREET_STAFF])
    url = reverse("fieldwork:patrol_close", args=[patrols["a1x"].pk])
    assert client.get(url).status_code == 405
    page = client.get(reverse("fieldwork:patrol_detail", args=[patrols["a1x"].pk]))
    assert url not in page.content.decode()  # ended already: nothing to close
    ended = patrols["a1x"].ended_at
    response = client.post(url, follow=True)
    assert "This patrol has already ended." in response.content.decode()
    assert Patrol.all_objects.get(pk=patrols["a1x"].pk).ended_at == ended


# --- The patrol export --------------------------------------------------------------------------


def test_the_export_masks_numbers_in_notes_and_uses_the_patrols_km(
    client, world, role_users, workers, patrols, monkeypatch
):
    Patrol.all_objects.filter(pk=patrols["a1x"].pk).update(
        note="王大爷电话13812345678，身份证110101199003071234", distance_m=1234
    )
    monkeypatch.setattr(Patrol, "km", property(lambda patrol: 99.5))
    login(client, role_users[Role.STREET_STAFF])
    export = client.get(reverse("fieldwork:patrol_list"), {"format": "xlsx"})
    rows = list(load_workbook(BytesIO(export.content)).active.values)
    header = list(rows[0])
    note = header.index("Note")
    notes = [row[note] for row in rows[1:] if row[note]]
    assert notes == ["王大爷电话138****5678，身份证110101********1234"]
    km = header.index("Distance (km)")
    assert {row[km] for row in rows[1:]} == {99.5}

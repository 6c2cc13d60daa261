"""The grid page's forms: purposes, assigning a grid worker, ending an assignment. Every role on
a grid inside its territory (A1x, street A) and outside it (B1x, street B). Expectations written
out by hand: grids are edited by the street and above (territory.change_grid, as the import
pages); 403 for roles that edit grids nowhere, 404 where the grid is not visible."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.territory import grid_io
from jiedao.territory.models import Grid, GridWorker
from tests import factories as f

pytestmark = pytest.mark.django_db

# Who may edit each grid: street roles hold street A; the district and the system hold both.
EDITORS_A = {Role.STREET_STAFF, Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
EDITORS_B = {Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
SINCE = date(2025, 3, 1)


@pytest.fixture(autouse=True)
def pages_in_english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def setup(world, role_users):
    """A grid worker on each grid, assigned by the system, and a staff member of street B."""
    gw_b = f.user_with_role(Role.GRID_WORKER, world.grid_b1x, username="gw-b")
    return {
        "a": grid_io.assign_grid_worker(
            None, world.grid_a1x, role_users[Role.GRID_WORKER], "full_time", SINCE
        ),
        "b": grid_io.assign_grid_worker(None, world.grid_b1x, gw_b, "full_time", SINCE),
        # Candidates for a new assignment on each grid.
        "new_a": role_users[Role.WORKSTATION_STAFF],
        "new_b": f.user_with_role(Role.WORKSTATION_STAFF, world.community_b1, username="ws-b"),
    }


def _url(grid: Grid, what: str, pk: int | None = None) -> str:
    if what == "end":
        return f"/territory/grids/{grid.code}/workers/{pk}/end/"
    return f"/territory/grids/{grid.code}/{'purposes' if what == 'purposes' else 'workers/add'}/"


def _grid(code: str) -> Grid:
    with unscoped():
        return Grid.all_objects.get(code=code)


def _assignments(grid: Grid) -> list[tuple[str, str, date | None]]:
    with unscoped():
        rows = GridWorker.all_objects.filter(grid=grid).order_by("pk")
        return list(rows.values_list("user__username", "kind", "until"))


def _audit_count() -> int:
    with unscoped():
        return AuditEntry.objects.count()


def _latest(action: str) -> AuditEntry:
    with unscoped():
        return AuditEntry.objects.select_related("actor").filter(action=action).latest("seq")


def _expected(role: str, editors: set[str], outside: bool) -> int:
    if role in editors:
        return 200
    if role not in EDITORS_A:
        return 403  # edits grids nowhere
    return 404 if outside else 403  # street roles do not even see street B


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("where", ["inside", "outside"])
def test_permission_matrix(client, world, role_users, setup, role, where):
    outside = where == "outside"
    grid = world.grid_b1x if outside else world.grid_a1x
    editors = EDITORS_B if outside else EDITORS_A
    assignment, candidate = setup["b" if outside else "a"], setup["new_b" if outside else "new_a"]
    expected = _expected(role, editors, outside)
    client.force_login(role_users[role])
    for what in ("purposes", "add", "end"):
        page = client.get(_url(grid, what, assignment.pk))
        assert page.status_code == expected, (role, where, what)
    audit_before = _audit_count()
    answers = [
        client.post(_url(grid, "purposes"), {"purposes": ["party", "city"]}),
        client.post(
            _url(grid, "add"),
            {"user": candidate.pk, "kind": "part_time", "since": "2025-05-01"},
        ),
        client.post(_url(grid, "end", assignment.pk), {"until": "2025-06-30"}),
    ]
    purposes, workers = _grid(grid.code).purposes, _assignments(grid)
    if role in editors:
        assert [a.status_code for a in answers] == [302, 302, 302], (role, where)
        assert all(a["Location"] == grid.get_absolute_url() for a in answers)
        assert purposes == ["party", "city"]
        assert (candidate.username, "part_time", None) in workers
        assert workers[0][2] == date(2025, 6, 30)
        assert _audit_count() == audit_before + 3
    else:
        assert [a.status_code for a in answers] == [expected] * 3, (role, where)
        assert purposes == [] and len(workers) == 1 and workers[0][2] is None
        assert _audit_count() == audit_before


@pytest.mark.parametrize("role", [r for r in Role if r != Role.RESIDENT])
def test_grid_page_shows_the_edit_links_only_to_editors(client, world, role_users, setup, role):
    client.force_login(role_users[role])
    page = client.get(world.grid_a1x.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    links = (
        _url(world.grid_a1x, "purposes"),
        _url(world.grid_a1x, "add"),
        _url(world.grid_a1x, "end", setup["a"].pk),
    )
    for link in links:
        assert (link in html) == (role in EDITORS_A), (role, link)


def test_the_district_sees_links_on_street_b_but_street_staff_not_even_the_page(
    client, world, role_users, setup
):
    client.force_login(role_users[Role.DISTRICT_ADMIN])
    assert (
        _url(world.grid_b1x, "add")
        in client.get(world.grid_b1x.get_absolute_url()).content.decode()
    )
    client.force_login(role_users[Role.STREET_STAFF])
    assert client.get(world.grid_b1x.get_absolute_url()).status_code == 404


# --- Happy paths -----------------------------------------------------------------------------


@pytest.fixture
def street(client, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    return role_users[Role.STREET_STAFF]


def test_purposes_form_shows_the_current_ones_and_saves_with_an_audit_entry(
    client, world, setup, street
):
    grid_io.set_grid_purposes(None, world.grid_a1x, ["governance"])
    page = client.get(_url(world.grid_a1x, "purposes"))
    html = page.content.decode()
    assert 'value="governance"' in html and "checked" in html.split('value="governance"')[1][:40]
    answer = client.post(_url(world.grid_a1x, "purposes"), {"purposes": ["emergency", "party"]})
    assert answer.status_code == 302
    assert _grid(world.grid_a1x.code).purposes == ["party", "emergency"]  # in the fixed order
    entry = _latest("territory.grid.update")
    assert entry.actor == street and entry.after["purposes"] == ["party", "emergency"]
    shown = client.get(world.grid_a1x.get_absolute_url()).content.decode()
    assert "Party building" in shown and "Emergency" in shown
    assert "The grid&#x27;s purposes were saved." in shown or "purposes were saved" in shown


def test_no_purpose_at_all_is_allowed(client, world, setup, street):
    grid_io.set_grid_purposes(None, world.grid_a1x, ["governance", "city"])
    assert client.post(_url(world.grid_a1x, "purposes"), {}).status_code == 302
    assert _grid(world.grid_a1x.code).purposes == []


def test_assign_a_grid_worker_then_end_the_assignment(client, world, setup, street):
    candidate = setup["new_a"]
    page = client.get(_url(world.grid_a1x, "add"))
    assert f'value="{candidate.pk}"' in page.content.decode()
    answer = client.post(
        _url(world.grid_a1x, "add"),
        {"user": candidate.pk, "kind": "full_time", "since": "2025-04-01"},
    )
    assert answer.status_code == 302
    with unscoped():
        assignment = GridWorker.all_objects.get(user=candidate, until__isnull=True)
    assert (assignment.grid_id, assignment.kind, assignment.since) == (
        world.grid_a1x.pk,
        "full_time",
        date(2025, 4, 1),
    )
    assert assignment.territory_code == world.grid_a1x.code
    created = _latest("territory.gridworker.create")
    assert created.actor == street and created.object_id == str(assignment.pk)
    shown = client.get(world.grid_a1x.get_absolute_url()).content.decode()
    assert str(candidate) in shown and "since 2025-04-01" in shown

    end = client.get(_url(world.grid_a1x, "end", assignment.pk))
    assert end.status_code == 200 and "since 2025-04-01" in end.content.decode()
    answer = client.post(_url(world.grid_a1x, "end", assignment.pk), {"until": "2025-09-30"})
    assert answer.status_code == 302
    assignment.refresh_from_db()
    assert assignment.until == date(2025, 9, 30)
    ended = _latest("territory.gridworker.end")
    assert ended.actor == street and ended.after["until"] == "2025-09-30"
    # Kept in the history, gone from the page's list of current workers.
    with unscoped():
        assert GridWorker.all_objects.filter(pk=assignment.pk).exists()
    shown = client.get(world.grid_a1x.get_absolute_url()).content.decode()
    assert _url(world.grid_a1x, "end", assignment.pk) not in shown


# --- Bad input -------------------------------------------------------------------------------


def _errors(answer) -> str:
    assert answer.status_code == 400
    return answer.content.decode()


def test_an_unknown_purpose_is_refused(client, world, setup, street):
    answer = client.post(_url(world.grid_a1x, "purposes"), {"purposes": ["party", "tourism"]})
    assert "tourism is not one of the available choices" in _errors(answer)
    assert _grid(world.grid_a1x.code).purposes == []


@pytest.mark.parametrize(
    "who",
    ["resident", "outside_staff", "inactive", "unknown_id", "not_a_number"],
)
def test_only_staff_of_the_grids_territory_can_be_assigned(
    client, world, role_users, setup, street, who
):
    inactive = f.user_with_role(Role.WORKSTATION_STAFF, world.community_a1, username="gone")
    inactive.is_active = False
    inactive.save()
    user_id = {
        "resident": role_users[Role.RESIDENT].pk,
        "outside_staff": setup["new_b"].pk,  # workstation staff of community B1
        "inactive": inactive.pk,
        "unknown_id": 999_999,
        "not_a_number": "abc",
    }[who]
    before = _assignments(world.grid_a1x)
    answer = client.post(
        _url(world.grid_a1x, "add"), {"user": user_id, "kind": "full_time", "since": "2025-04-01"}
    )
    assert "Select a valid choice" in _errors(answer)
    assert _assignments(world.grid_a1x) == before


def test_an_unknown_kind_and_a_bad_date_are_refused(client, world, setup, street):
    answer = client.post(
        _url(world.grid_a1x, "add"),
        {"user": setup["new_a"].pk, "kind": "volunteer", "since": "2025-02-30"},
    )
    html = _errors(answer)
    assert "volunteer is not one of the available choices" in html
    assert "Enter a valid date" in html


def test_assigning_the_same_worker_twice_is_refused(client, world, role_users, setup, street):
    answer = client.post(
        _url(world.grid_a1x, "add"),
        {"user": role_users[Role.GRID_WORKER].pk, "kind": "part_time", "since": "2025-04-01"},
    )
    assert "is already a worker of this grid" in _errors(answer)
    assert len(_assignments(world.grid_a1x)) == 1


def test_ending_an_ended_assignment_is_refused(client, world, setup, street):
    assignment = setup["a"]
    assert (
        client.post(_url(world.grid_a1x, "end", assignment.pk), {"until": "2025-06-30"}).status_code
        == 302
    )
    page = client.get(_url(world.grid_a1x, "end", assignment.pk))
    assert "from 2025-03-01 to 2025-06-30" in page.content.decode()
    answer = client.post(_url(world.grid_a1x, "end", assignment.pk), {"until": "2025-07-31"})
    assert "This assignment has already ended." in _errors(answer)
    assignment.refresh_from_db()
    assert assignment.until == date(2025, 6, 30)


def test_an_end_before_the_start_is_refused(client, world, setup, street):
    answer = client.post(_url(world.grid_a1x, "end", setup["a"].pk), {"until": "2025-02-28"})
    assert "cannot end before it began (2025-03-01)" in _errors(answer)
    setup["a"].refresh_from_db()
    assert setup["a"].until is None
    answer = client.post(_url(world.grid_a1x, "end", setup["a"].pk), {"until": ""})
    assert "This field is required" in _errors(answer)


@pytest.mark.parametrize("pk", ["999999", "abc", "99999999999999999999999999999", "%C2%B2", "-1"])
def test_bad_assignment_ids_are_404(client, world, setup, street, pk):
    assert (
        client.get(f"/territory/grids/{world.grid_a1x.code}/workers/{pk}/end/").status_code == 404
    )
    answer = client.post(
        f"/territory/grids/{world.grid_a1x.code}/workers/{pk}/end/", {"until": "2025-06-30"}
    )
    assert answer.status_code == 404


def test_an_assignment_of_another_grid_is_404_under_this_one(client, world, setup, role_users):
    client.force_login(role_users[Role.DISTRICT_ADMIN])
    url = _url(world.grid_a1y, "end", setup["a"].pk)  # A1x's assignment under A1y
    assert client.post(url, {"until": "2025-06-30"}).status_code == 404
    setup["a"].refresh_from_db()
    assert setup["a"].until is None


@pytest.mark.parametrize("code", ["110119001001999", "nonsense", "110119001001"])
def test_unknown_grid_codes_are_404(client, world, setup, street, code):
    for what in ("purposes", "add"):
        assert (
            client.get(
                f"/territory/grids/{code}/{'purposes' if what == 'purposes' else 'workers/add'}/"
            ).status_code
            == 404
        )


def test_a_retired_grid_keeps_its_purposes_and_takes_no_new_worker(client, world, setup, street):
    with unscoped():
        Grid.all_objects.filter(pk=world.grid_a1y.pk).update(retired_at=date(2026, 1, 1))
    answer = client.post(_url(world.grid_a1y, "purposes"), {"purposes": ["party"]})
    assert "is retired" in _errors(answer)
    answer = client.post(
        _url(world.grid_a1y, "add"),
        {"user": setup["new_a"].pk, "kind": "full_time", "since": "2025-04-01"},
    )
    assert "is retired" in _errors(answer)
    assert _grid(world.grid_a1y.code).purposes == [] and _assignments(world.grid_a1y) == []


def test_changes_need_the_csrf_token(world, role_users, setup):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(role_users[Role.STREET_STAFF])
    answers = [
        client.post(_url(world.grid_a1x, "purposes"), {"purposes": ["party"]}),
        client.post(
            _url(world.grid_a1x, "add"),
            {"user": setup["new_a"].pk, "kind": "full_time", "since": "2025-04-01"},
        ),
        client.post(_url(world.grid_a1x, "end", setup["a"].pk), {"until": "2025-06-30"}),
    ]
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert _grid(world.grid_a1x.code).purposes == [] and len(_assignments(world.grid_a1x)) == 1
    # The form pages carry the token, so a browser's post goes through.
    page = client.get(_url(world.grid_a1x, "purposes"))
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client, world, setup):
    answer = client.post(_url(world.grid_a1x, "purposes"), {"purposes": ["party"]})
    assert answer.status_code == 302 and "login" in answer["Location"]
    assert _grid(world.grid_a1x.code).purposes == []

"""The care and visit pages: every role × a person inside grid A1x, in the other grid A1y of the
same community and in street B; then bad input, exports and the map.

Expectations written out by hand from domain.md §10 and the registry rules: readers (grid
worker, workstation, committee, street staff and leader, district and system administrators)
see the people of their territory; tags are changed and visits recorded by the editors (grid
worker, workstation, street staff and leader) and the system administrator; department staff
and residents get 403 on every page."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.fields import mask
from jiedao.core.scopes import unscoped
from jiedao.registry import care
from jiedao.registry.models import CareGroup, CareTag, Visit

pytestmark = pytest.mark.django_db

ROLES = list(Role)
GRIDS = ["a1x", "a1y", "b1x"]
NO_ACCESS = {Role.RESIDENT, Role.DEPARTMENT_STAFF}
# Grids whose people each role sees.
SEES = {
    Role.RESIDENT: set(),
    Role.DEPARTMENT_STAFF: set(),
    Role.GRID_WORKER: {"a1x"},
    Role.WORKSTATION_STAFF: {"a1x", "a1y"},
    Role.COMMITTEE_MEMBER: {"a1x", "a1y"},
    Role.STREET_STAFF: {"a1x", "a1y"},
    Role.STREET_LEADER: {"a1x", "a1y"},
    Role.DISTRICT_ADMIN: {"a1x", "a1y", "b1x"},
    Role.SYSTEM_ADMIN: {"a1x", "a1y", "b1x"},
}
# Roles that may tag people and record visits (where they see them).
EDITS = {
    Role.GRID_WORKER,
    Role.WORKSTATION_STAFF,
    Role.STREET_STAFF,
    Role.STREET_LEADER,
    Role.SYSTEM_ADMIN,
}


@pytest.fixture(autouse=True)
def english(client):
    """Messages are checked in English (the UI defaults to zh-hans)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def tags(world):
    """A weekly elderly tag in A1x, A1y and B1x, each last visited 20 days ago (overdue)."""
    visited = timezone.now() - timedelta(days=20)
    result = {}
    for key in GRIDS:
        person = world.persons[key]
        result[key] = care.tag_person(None, person, CareGroup.ELDERLY_ALONE)
        care.record_visit(None, person=person, kind="care", visited_at=visited, note="身体尚可")
    return result


def expected_status(role, key, *, perm_roles) -> int:
    """403 for a page not part of the role, 404 for a person out of sight, 403 for one in sight
    the role may not change; else 200."""
    if role in NO_ACCESS or role not in perm_roles:
        return 403
    return 200 if key in SEES[role] else 404


def grids_of(world, codes) -> set[str]:
    by_code = {world.persons[k].territory_code: k for k in GRIDS}
    return {by_code[c] for c in codes}


# --- Permission matrix --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_care_overview(client, world, role_users, tags, role):
    client.force_login(role_users[role])
    response = client.get(reverse("registry:care"))
    if role in NO_ACCESS:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    shown = {tag.territory_code for tag in response.context["page_obj"].object_list}
    assert grids_of(world, shown) == SEES[role], role
    assert grids_of(world, {row["code"] for row in response.context["counts"]}) == SEES[role]


@pytest.mark.parametrize("role", ROLES)
def test_visit_schedule(client, world, role_users, tags, role):
    client.force_login(role_users[role])
    response = client.get(reverse("registry:visit_schedule"))
    if role in NO_ACCESS:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    overdue = {tag.territory_code for tag in response.context["overdue"].object_list}
    assert grids_of(world, overdue) == SEES[role], role
    page = response.content.decode()
    button = f"{reverse('registry:visit_new')}?person={world.persons['a1x'].pk}"
    assert (button in page) == (role in EDITS), role


@pytest.mark.parametrize("role", ROLES)
def test_visit_log(client, world, role_users, tags, role):
    client.force_login(role_users[role])
    response = client.get(reverse("registry:visit_log"))
    if role in NO_ACCESS:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    shown = {visit.territory_code for visit in response.context["page_obj"].object_list}
    assert grids_of(world, shown) == SEES[role], role


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", GRIDS)
def test_person_care_page(client, world, role_users, tags, role, key):
    client.force_login(role_users[role])
    person = world.persons[key]
    response = client.get(reverse("registry:person_care", args=[person.pk]))
    assert response.status_code == expected_status(role, key, perm_roles=SEES), (role, key)
    if response.status_code == 200:
        may_change = role in EDITS
        assert ('name="action" value="add"' in response.content.decode()) == may_change


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", GRIDS)
def test_person_care_add_tag(client, world, role_users, tags, role, key):
    client.force_login(role_users[role])
    person = world.persons[key]
    url = reverse("registry:person_care", args=[person.pk])
    response = client.post(url, {"action": "add", "group": CareGroup.DISABLED})
    added = CareTag.all_objects.filter(person=person, group=CareGroup.DISABLED).exists()
    expected = expected_status(role, key, perm_roles=SEES)
    if expected == 200 and role not in EDITS:
        expected = 403  # sees the person, may not change them (committee, district)
    assert response.status_code == (302 if expected == 200 else expected), (role, key)
    assert added == (expected == 200)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", GRIDS)
def test_record_visit_page(client, world, role_users, tags, role, key):
    client.force_login(role_users[role])
    person = world.persons[key]
    url = f"{reverse('registry:visit_new')}?person={person.pk}"
    expected = expected_status(role, key, perm_roles=EDITS)
    assert client.get(url).status_code == expected, (role, key)
    before = Visit.all_objects.filter(person=person).count()
    response = client.post(url, {"kind": "care", "visited_at": "2026-11-02T10:00", "note": "在家"})
    assert response.status_code == (302 if expected == 200 else expected), (role, key)
    assert Visit.all_objects.filter(person=person).count() == before + (expected == 200)


def test_pages_need_a_login(client, tags, world):
    for url in (
        reverse("registry:care"),
        reverse("registry:visit_schedule"),
        reverse("registry:visit_log"),
        f"{reverse('registry:visit_new')}?person={world.persons['a1x'].pk}",
        reverse("registry:person_care", args=[world.persons["a1x"].pk]),
    ):
        assert client.get(url).status_code == 302, url


# --- Recording a visit from the round ---------------------------------------------------------


def test_recording_a_visit_moves_the_schedule_and_returns_to_the_round(
    client, world, role_users, tags
):
    client.force_login(role_users[Role.GRID_WORKER])
    person = world.persons["a1x"]
    schedule = reverse("registry:visit_schedule")
    form = client.get(f"{reverse('registry:visit_new')}?person={person.pk}&next={schedule}")
    assert form.context["form"].initial["kind"] == Visit.Kind.CARE
    now = timezone.localtime().replace(second=0, microsecond=0)
    response = client.post(
        f"{reverse('registry:visit_new')}?person={person.pk}",
        {"kind": "care", "visited_at": now.strftime("%Y-%m-%dT%H:%M"), "next": schedule},
    )
    assert response.status_code == 302 and response["Location"] == schedule
    tag = CareTag.all_objects.get(pk=tags["a1x"].pk)
    assert tag.next_visit_due == timezone.localdate() + timedelta(days=7)
    round_after = client.get(schedule)
    assert [t.pk for t in round_after.context["overdue"].object_list] == []


def test_an_outside_next_address_is_ignored(client, world, role_users, tags):
    client.force_login(role_users[Role.GRID_WORKER])
    url = f"{reverse('registry:visit_new')}?person={world.persons['a1x'].pk}"
    response = client.post(
        url, {"kind": "routine", "visited_at": "2026-11-02T10:00", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("registry:visit_schedule")


def test_a_visit_in_the_future_is_refused_on_the_form(client, world, role_users, tags):
    client.force_login(role_users[Role.GRID_WORKER])
    person = world.persons["a1x"]
    tomorrow = timezone.localtime() + timedelta(days=1)
    response = client.post(
        f"{reverse('registry:visit_new')}?person={person.pk}",
        {"kind": "care", "visited_at": tomorrow.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["visited_at"] == ["A visit cannot be in the future."]
    assert Visit.all_objects.filter(person=person).count() == 1  # the fixture's only


def test_a_visit_page_needs_someone_to_visit(client, role_users, world):
    client.force_login(role_users[Role.GRID_WORKER])
    assert client.get(reverse("registry:visit_new")).status_code == 404
    household = world.persons["a1x"].household
    url = f"{reverse('registry:visit_new')}?household={household.pk}"
    assert client.get(url).status_code == 200
    response = client.post(url, {"kind": "routine", "visited_at": "2026-11-02T10:00"})
    assert response.status_code == 302
    assert Visit.all_objects.get(household=household).person is None
    other = world.persons["a1y"].household
    assert client.get(f"{reverse('registry:visit_new')}?household={other.pk}").status_code == 404


# --- Tags on the person's page ----------------------------------------------------------------


def test_tagging_twice_on_the_page_says_so_and_changes_nothing(client, world, role_users, tags):
    client.force_login(role_users[Role.GRID_WORKER])
    person = world.persons["a1x"]
    url = reverse("registry:person_care", args=[person.pk])
    response = client.post(
        url, {"action": "add", "group": CareGroup.ELDERLY_ALONE, "visit_every_days": "3"}
    )
    assert response.status_code == 400
    assert "already in the group" in response.content.decode()
    assert list(CareTag.all_objects.filter(person=person)) == [tags["a1x"]]
    assert CareTag.all_objects.get(pk=tags["a1x"].pk).visit_every_days == 7


@pytest.mark.parametrize("every", ["0", "367", "abc"])
def test_a_bad_schedule_on_the_page_changes_nothing(client, world, role_users, tags, every):
    client.force_login(role_users[Role.GRID_WORKER])
    tag = tags["a1x"]
    url = reverse("registry:person_care", args=[tag.person_id])
    response = client.post(
        url, {"action": "schedule", "tag": tag.pk, f"tag{tag.pk}-visit_every_days": every}
    )
    assert response.status_code == 400
    errors = response.context["tags"][0].schedule_form.errors["visit_every_days"]
    assert errors and ("1 to 366" in errors[0] or "whole number" in errors[0])
    assert CareTag.all_objects.get(pk=tag.pk).visit_every_days == 7


def test_schedule_and_remove_on_the_page(client, world, role_users, tags):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    tag = tags["a1y"]
    url = reverse("registry:person_care", args=[tag.person_id])
    response = client.post(
        url, {"action": "schedule", "tag": tag.pk, f"tag{tag.pk}-visit_every_days": "14"}
    )
    assert response.status_code == 302
    assert CareTag.all_objects.get(pk=tag.pk).visit_every_days == 14
    assert client.post(url, {"action": "remove", "tag": tag.pk}).status_code == 302
    assert not CareTag.all_objects.filter(pk=tag.pk).exists()


def test_a_tag_of_another_person_cannot_be_removed_through_this_page(
    client, world, role_users, tags
):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    url = reverse("registry:person_care", args=[world.persons["a1x"].pk])
    response = client.post(url, {"action": "remove", "tag": tags["a1y"].pk})
    assert response.status_code == 404
    assert CareTag.all_objects.filter(pk=tags["a1y"].pk).exists()


# --- Filters, exports, map --------------------------------------------------------------------


def test_care_list_filters_on_the_page(client, world, role_users, tags):
    care.tag_person(None, world.persons["a1y"], CareGroup.VETERAN)
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(reverse("registry:care"), {"group": CareGroup.VETERAN})
    assert [t.person_id for t in response.context["page_obj"].object_list] == [
        world.persons["a1y"].pk
    ]
    by_grid = client.get(reverse("registry:care"), {"grid": world.grid_a1x.code})
    assert [t.pk for t in by_grid.context["page_obj"].object_list] == [tags["a1x"].pk]
    # A grid outside the street is not a choice: that filter is dropped, the others still apply.
    outside = client.get(
        reverse("registry:care"), {"group": CareGroup.VETERAN, "grid": world.grid_b1x.code}
    )
    assert [t.person_id for t in outside.context["page_obj"].object_list] == [
        world.persons["a1y"].pk
    ]


def _sheet(response) -> list[list]:
    sheet = load_workbook(BytesIO(response.content), read_only=True).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _exports() -> list[AuditEntry]:
    with unscoped():
        return list(AuditEntry.objects.filter(action__startswith="export."))


def test_care_export_is_masked_scoped_and_audited(client, world, role_users, tags):
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(reverse("registry:care"), {"format": "xlsx"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = _sheet(response)
    cells = {str(cell) for row in rows[1:] for cell in row}
    for key in ("a1x", "a1y"):
        name = world.persons[key].name
        assert mask("name", name) in cells and name not in cells
    assert world.persons["b1x"].name not in cells and len(rows) == 3
    assert [e.action for e in _exports()] == ["export.care"]


def test_visit_log_export_is_masked_and_audited(client, world, role_users, tags):
    client.force_login(role_users[Role.GRID_WORKER])
    response = client.get(reverse("registry:visit_log"), {"format": "xlsx"})
    rows = _sheet(response)
    assert len(rows) == 2  # heading and the A1x visit
    name = world.persons["a1x"].name
    assert mask("name", name) in rows[1] and name not in rows[1] and "身体尚可" in rows[1]
    assert [e.action for e in _exports()] == ["export.visits"]


def test_visit_log_filters_on_the_page(client, world, role_users, tags):
    client.force_login(role_users[Role.STREET_STAFF])
    person = world.persons["a1y"]
    response = client.get(reverse("registry:visit_log"), {"person": person.pk})
    assert [v.person_id for v in response.context["page_obj"].object_list] == [person.pk]
    routine = client.get(reverse("registry:visit_log"), {"kind": "routine"})
    assert list(routine.context["page_obj"].object_list) == []


def test_the_map_labels_grids_with_counts_and_never_names_people(client, world, role_users, tags):
    building = world.buildings["a1x"]
    building.lat, building.lng = 40.46, 115.96
    building.save()
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get(reverse("registry:care"))
    geojson = response.context["geojson"]
    assert "香水园第一网格 · 1" in geojson and "香水园第二网格 · 1" in geojson
    assert '"type": "Point"' in geojson and building.name in geojson
    for person in world.persons.values():
        assert person.name not in geojson
    assert "data-map data-geojson" in response.content.decode()

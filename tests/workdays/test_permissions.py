"""Every role, inside and outside its territory: who reads, who edits which calendar."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from jiedao.accounts.roles import Role
from jiedao.core.scopes import unscoped
from jiedao.workdays.models import CalendarDay

pytestmark = pytest.mark.django_db

STAFF = [r for r in Role if r != Role.RESIDENT]
# Which calendars each role may edit (expectations written from the brief, not the code).
EDITS = {
    Role.STREET_STAFF: {"street_a"},
    Role.STREET_LEADER: {"street_a"},
    Role.DISTRICT_ADMIN: {"district"},
    Role.SYSTEM_ADMIN: {"street_a", "street_b", "district"},
}
TARGETS = ["street_a", "street_b", "district"]


def stored() -> int:
    with unscoped():
        return CalendarDay.objects.count()


@pytest.mark.parametrize("role", list(Role))
def test_who_reads_the_calendar_page(client, role_users, world, role):
    client.force_login(role_users[role])
    response = client.get(reverse("workdays:year", args=[world.street_a.code, 2025]))
    assert response.status_code == (403 if role == Role.RESIDENT else 200)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("target", TARGETS)
def test_who_edits_which_calendar(client, role_users, world, role, target):
    client.force_login(role_users[role])
    node = getattr(world, target)
    allowed = target in EDITS.get(role, set())
    url = reverse("workdays:add_day", args=[node.code])
    response = client.post(url, {"date": "2027-10-01", "kind": "holiday", "name": "国庆节"})
    if allowed:
        assert response.status_code == 302 and stored() == 1
    else:
        assert response.status_code in (403, 404) and stored() == 0
    assert client.get(url).status_code == (200 if allowed else response.status_code)


@pytest.mark.parametrize("role", list(Role))
def test_import_is_for_editors_only(client, role_users, world, role):
    client.force_login(role_users[role])
    url = reverse("workdays:import", args=[world.street_a.code])
    allowed = "street_a" in EDITS.get(role, set())
    assert client.get(url).status_code in ((200,) if allowed else (403, 404))


@pytest.mark.parametrize("role", list(Role))
def test_api_reads_for_staff_only_and_inside_territory(client, role_users, world, role):
    client.force_login(role_users[role])
    own = client.get(f"/api/workdays/calendars/{world.street_a.code}/2025")
    other = client.get(f"/api/workdays/calendars/{world.street_b.code}/2025")
    if role == Role.RESIDENT:
        assert own.status_code == other.status_code == 403
        return
    assert own.status_code == 200
    sees_b = role in (Role.DEPARTMENT_STAFF, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN)
    assert other.status_code == (200 if sees_b else 404)


def test_street_staff_cannot_remove_the_districts_day(client, role_users, world):
    client.force_login(role_users[Role.DISTRICT_ADMIN])
    client.post(
        reverse("workdays:add_day", args=[world.district.code]),
        {"date": "2027-10-01", "kind": "holiday", "name": "国庆节"},
    )
    with unscoped():
        entry = CalendarDay.objects.get()
    client.force_login(role_users[Role.STREET_STAFF])
    url = reverse("workdays:remove_day", args=[world.district.code, entry.pk])
    assert client.post(url).status_code == 403 and stored() == 1
    # Nor through its own calendar's address.
    url = reverse("workdays:remove_day", args=[world.street_a.code, entry.pk])
    assert client.post(url).status_code == 404 and stored() == 1


def test_signed_out_is_sent_to_sign_in(client, world):
    response = client.get(reverse("workdays:year", args=[world.street_a.code, 2025]))
    assert response.status_code == 302 and "login" in response["Location"]
    assert client.get("/api/workdays/deadline?start=2025-09-30&days=5").status_code == 401


def test_entered_day_is_visible_to_the_street_below_but_not_the_other(world, role_users):
    from jiedao.workdays import selectors, services

    services.add_day(role_users[Role.STREET_STAFF], world.street_a, date(2027, 1, 4), "holiday", "")
    grid_worker = role_users[Role.GRID_WORKER]
    assert selectors.entered_days(grid_worker, world.street_a.code).count() == 1
    outsider = role_users[Role.DEPARTMENT_STAFF]  # sees the district's structure, so also reads
    assert selectors.entered_days(outsider, world.street_a.code).count() == 1

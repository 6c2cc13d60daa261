"""XLSX export of the person list: masked by default, unmasked only with reveal rights on the
whole exported territory and a reason, each written to the audit trail as a sensitive read."""

from __future__ import annotations

import pytest

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.registry.models import CareTag
from tests import factories as f
from tests.registry.people_helpers import ADDRESS, people, sheet_rows

UNMASKED = {"unmasked": "on", "reason": "民政局低保年审核对"}


@pytest.fixture
def someone(world):
    return people(world)


def _sensitive_reads(action):
    with unscoped():
        return list(AuditEntry.objects.filter(kind=AuditEntry.Kind.SENSITIVE_READ, action=action))


def test_masked_export_has_every_filtered_row_masked_and_is_audited(client, someone, role_users):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    response = client.get("/registry/people/?format=xlsx&sex=F", HTTP_ACCEPT_LANGUAGE="en")
    rows = sheet_rows(response)
    assert rows[0][:5] == ["Full name", "Sex", "Date of birth", "Identity number", "Phone"]
    assert [row[0] for row in rows[1:]] == ["李红"]  # the woman of community A1
    row = rows[1]
    assert row[3] == "110119********2463" and row[4] == "139****4321"
    assert row[5] == "香水园路12号"  # the address mask keeps road and number only
    (entry,) = _sensitive_reads("export.persons")
    assert entry.note.startswith("1 rows") and "sex=F" in entry.note
    assert "2463" not in str(entry.after) and someone["a1y"].identity not in entry.note


def test_export_lists_care_groups_without_a_query_per_row(
    client, someone, role_users, django_assert_max_num_queries
):
    for person in (someone["a1x"].person, someone["a1y"].person):
        CareTag.all_objects.create(
            person=person, group="subsistence", territory_code=person.territory_code
        )
    for _ in range(30):
        f.PersonFactory(household=someone["a1x"].person.household)
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    with django_assert_max_num_queries(25):
        rows = sheet_rows(client.get("/registry/people/?format=xlsx"))
    assert len(rows) == 1 + 32
    tagged = {row[0]: row[10] for row in rows[1:] if row[10]}
    assert set(tagged) == {"王小明", "李红"}


def test_unmasked_export_with_a_reason_is_one_audited_sensitive_read(client, someone, role_users):
    worker = role_users[Role.STREET_STAFF]
    client.force_login(worker)
    community = someone["a1x"].person.dwelling.building.grid.community_id
    response = client.post(f"/registry/people/?format=xlsx&community={community}", UNMASKED)
    rows = sheet_rows(response)
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {"王小明", "李红"}
    assert by_name["王小明"][3] == someone["a1x"].identity
    assert by_name["王小明"][4] == someone["a1x"].phone
    assert by_name["王小明"][5] == ADDRESS
    (entry,) = _sensitive_reads("export.persons.unmasked")
    assert entry.actor == worker and entry.note == UNMASKED["reason"]
    assert entry.after["rows"] == 2 and "community" in entry.after["filters"]
    assert someone["a1x"].identity not in str(entry.after) + entry.note
    assert not _sensitive_reads("export.persons")  # one entry, not two
    assert response["Cache-Control"] == "no-store"


def test_unmasked_export_needs_a_reason(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    response = client.post("/registry/people/?format=xlsx", {"unmasked": "on", "reason": " ab "})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert "errorlist" in response.text
    assert not _sensitive_reads("export.persons.unmasked")


def test_unmasked_export_must_be_ticked(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    response = client.post("/registry/people/?format=xlsx", {"reason": "核对名单"})
    assert response["Content-Type"].startswith("text/html")
    assert not _sensitive_reads("export.persons.unmasked")


@pytest.mark.parametrize(
    "role", [Role.COMMITTEE_MEMBER, Role.DISTRICT_ADMIN, Role.RESIDENT, Role.DEPARTMENT_STAFF]
)
def test_unmasked_export_is_refused_to_roles_that_may_not_reveal(client, someone, role_users, role):
    client.force_login(role_users[role])
    response = client.post("/registry/people/?format=xlsx", UNMASKED)
    assert response.status_code == 403
    assert not _sensitive_reads("export.persons.unmasked")


def test_unmasked_export_needs_reveal_on_all_of_the_exported_territory(
    client, someone, role_users, world
):
    """Workstation staff of community A1 who are also district administrators may browse the
    whole district but reveal only in A1: unmasked only when the export stays inside A1."""
    user = role_users[Role.WORKSTATION_STAFF]
    f.user_with_role(Role.DISTRICT_ADMIN, world.district, username=user.username)
    user.clear_grant_cache()
    client.force_login(user)
    whole = client.post("/registry/people/?format=xlsx", UNMASKED)
    assert whole.status_code == 403
    assert 'name="reason"' not in client.get("/registry/people/").text
    inside = client.post(
        f"/registry/people/?format=xlsx&community={world.community_a1.pk}", UNMASKED
    )
    names = {row[0] for row in sheet_rows(inside)[1:]}
    assert names == {"王小明", "李红"}


def test_the_unmasked_option_is_offered_only_to_those_who_may_use_it(client, someone, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    assert 'name="reason"' in client.get("/registry/people/").text
    client.force_login(role_users[Role.COMMITTEE_MEMBER])
    assert 'name="reason"' not in client.get("/registry/people/").text

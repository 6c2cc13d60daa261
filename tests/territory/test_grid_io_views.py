"""Grid import, export and check pages: every role inside and outside its street, the dry run
then confirm, and bad uploads. Expectations written out by hand: grids are drawn by the street and
above (territory.change_grid), exports are for staff and limited to the grids they see."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from jiedao.territory.models import Grid
from tests.territory.grid_io_support import collection, feature, layer, rect

__all__ = ["layer"]
pytestmark = pytest.mark.urls("tests.territory.grid_io_urls")

A1X, A1Y = "110119001001001", "110119001001002"
EDITORS_A = {Role.STREET_STAFF, Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
EDITORS_B = {Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
# Street B is outside the street roles' grants and not even an ancestor of them: 404.
SEES_B = {Role.DEPARTMENT_STAFF, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
# Grids of street A each role's export holds (staff only; residents get 403).
EXPORT_A = {
    Role.GRID_WORKER: 1,
    Role.WORKSTATION_STAFF: 2,
    Role.COMMITTEE_MEMBER: 2,
    Role.STREET_STAFF: 3,
    Role.STREET_LEADER: 3,
    Role.DEPARTMENT_STAFF: 3,
    Role.DISTRICT_ADMIN: 3,
    Role.SYSTEM_ADMIN: 3,
}
IMPORT = "/territory/grids/import/"


@pytest.fixture(autouse=True)
def pages_in_english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def _upload(content: str, name: str = "grids.geojson") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode("utf-8"))


def _good_file() -> str:
    return json.dumps(collection(feature(A1X, rect(115.96, 115.965), name="新名")))


def _names() -> dict[str, str]:
    with unscoped():
        return dict(Grid.all_objects.values_list("code", "name"))


@pytest.mark.parametrize("role", list(Role))
def test_import_page_matrix(client, layer, role_users, role):
    client.force_login(role_users[role])
    page = client.get(IMPORT)
    assert page.status_code == (200 if role in EDITORS_A else 403), role
    for street, editors in ((layer.street_a, EDITORS_A), (layer.street_b, EDITORS_B)):
        before = _names()
        answer = client.post(
            IMPORT, {"street": street.code, "crs": "wgs84", "file": _upload(_good_file())}
        )
        if role in editors:
            expected = 200
        elif role not in EDITORS_A:
            expected = 403  # not a grid editor anywhere
        else:
            expected = 404 if street == layer.street_b and role not in SEES_B else 403
        assert answer.status_code == expected, (role, street.code)
        assert _names() == before  # a dry run writes nothing, whoever asks


@pytest.mark.parametrize("role", list(Role))
def test_grid_check_matrix(client, layer, role_users, role):
    client.force_login(role_users[role])
    inside = client.get(f"/territory/streets/{layer.street_a.code}/grid-check/")
    outside = client.get(f"/territory/streets/{layer.street_b.code}/grid-check/")
    assert inside.status_code == (200 if role in EDITORS_A else 403), role
    if role in EDITORS_B:
        assert outside.status_code == 200
    elif role in EDITORS_A:
        assert outside.status_code == 404  # street staff of A do not see street B
    else:
        assert outside.status_code == 403


@pytest.mark.parametrize("role", list(Role))
def test_export_matrix(client, layer, role_users, role):
    client.force_login(role_users[role])
    answer = client.get(f"/territory/grids/export/?street={layer.street_a.code}&format=geojson")
    other = client.get(f"/territory/grids/export/?street={layer.street_b.code}&format=csv")
    if role == Role.RESIDENT:
        assert answer.status_code == other.status_code == 403
        return
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/geo+json"
    assert len(json.loads(answer.content)["features"]) == EXPORT_A[role], role
    assert other.status_code == (200 if role in SEES_B else 404), role


def test_export_csv_download(client, layer, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    answer = client.get(f"/territory/grids/export/?community={layer.community_a1.code}&format=csv")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="grids-110119001001-' in answer["Content-Disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbfcode,name,community,purposes,workers,wkt\r\n")


def test_export_bad_requests(client, layer, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    assert client.get("/territory/grids/export/?street=110119001000&format=shp").status_code == 400
    assert client.get("/territory/grids/export/?format=csv").status_code == 400
    assert client.get("/territory/grids/export/?street=999999999000").status_code == 404


def test_dry_run_then_confirm(client, layer, role_users):
    user = role_users[Role.STREET_STAFF]
    client.force_login(user)
    page = client.post(
        IMPORT, {"street": layer.street_a.code, "crs": "wgs84", "file": _upload(_good_file())}
    )
    assert page.status_code == 200
    report = page.context["report"]
    assert report.ok and report.counts["update"] == 1
    assert "Import these grids" in page.content.decode()
    assert _names()[A1X] == "香水园第一网格"

    done = client.post(IMPORT, {"confirm": "1", "content": page.context["signed"]})
    assert done.status_code == 302
    assert done["Location"] == f"/territory/streets/{layer.street_a.code}/grid-check/"
    assert _names()[A1X] == "新名"
    with unscoped():
        assert AuditEntry.objects.filter(action="territory.grid.import", actor=user).count() == 1
    check = client.get(done["Location"])
    assert check.status_code == 200 and check.context["check"].ok


def test_confirm_is_bound_to_the_user_and_cannot_be_forged(client, layer, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    page = client.post(
        IMPORT, {"street": layer.street_a.code, "crs": "wgs84", "file": _upload(_good_file())}
    )
    signed = page.context["signed"]
    assert client.post(IMPORT, {"confirm": "1", "content": signed + "x"}).status_code == 403
    client.force_login(role_users[Role.STREET_LEADER])
    assert client.post(IMPORT, {"confirm": "1", "content": signed}).status_code == 403
    assert _names()[A1X] == "香水园第一网格"


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        ("{oops", "grids.geojson", "The file is not valid JSON"),
        (
            json.dumps(collection(feature(A1X, rect(115.96, 115.966)))),
            "grids.geojson",
            "overlap by",
        ),
        ("code,name\r\n1,2\r\n", "grids.csv", "missing: wkt"),
    ],
)
def test_bad_files_get_a_report_and_no_confirm_button(
    client, layer, role_users, content, name, words
):
    client.force_login(role_users[Role.STREET_STAFF])
    page = client.post(
        IMPORT, {"street": layer.street_a.code, "crs": "wgs84", "file": _upload(content, name)}
    )
    assert page.status_code == 200
    assert words in page.content.decode()
    assert "signed" not in page.context and "Import these grids" not in page.content.decode()


def test_an_oversized_file_is_refused_before_reading(client, layer, role_users, settings):
    settings.JIEDAO_GRID_IMPORT_MAX_BYTES = 100
    client.force_login(role_users[Role.STREET_STAFF])
    page = client.post(
        IMPORT, {"street": layer.street_a.code, "crs": "wgs84", "file": _upload(_good_file())}
    )
    assert page.status_code == 200 and "report" not in page.context
    assert page.context["form"].errors["file"] == ["The file is larger than 100\xa0bytes."]


def test_check_page_lists_overlaps(client, layer, role_users):
    Grid.all_objects.filter(pk=layer.grid_a1y.pk).update(boundary=rect(115.964, 115.97))
    client.force_login(role_users[Role.STREET_LEADER])
    page = client.get(f"/territory/streets/{layer.street_a.code}/grid-check/")
    html = page.content.decode()
    assert 'id="overlaps"' in html and "香水园第一网格 (110119001001001)" in html
    assert 'id="check-errors"' in html
    assert "data-map data-geojson" in html


def test_grid_worker_form_offers_staff_of_the_grid_community_and_street(layer, role_users):
    from jiedao.territory.views_grid_io import GridPurposesForm, GridWorkerForm

    form = GridWorkerForm(grid=layer.grid_a1x)
    offered = {u.username for u in form.fields["user"].queryset}  # type: ignore[attr-defined]
    assert offered == {"gridworker", "workstation", "committee", "street", "leader"}
    form_b = GridWorkerForm(grid=layer.grid_a1y)  # the grid worker of A1x is not local to A1y
    local = form_b.fields["user"].queryset  # type: ignore[attr-defined]
    assert "gridworker" not in {u.username for u in local}
    chosen = GridWorkerForm(
        {"user": role_users[Role.GRID_WORKER].pk, "kind": "part_time", "since": "2026-03-01"},
        grid=layer.grid_a1x,
    )
    assert chosen.is_valid(), chosen.errors
    outsider = GridWorkerForm(
        {"user": role_users[Role.RESIDENT].pk, "kind": "part_time", "since": "2026-03-01"},
        grid=layer.grid_a1x,
    )
    assert not outsider.is_valid()
    purposes = GridPurposesForm({"purposes": ["party", "city"]})
    assert purposes.is_valid() and purposes.cleaned_data["purposes"] == ["party", "city"]
    assert not GridPurposesForm({"purposes": ["sports"]}).is_valid()

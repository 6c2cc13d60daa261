"""Import pages: every role × a job inside and outside its territory, then the whole flow
through the pages (upload, mapping, dry run, report, problems workbook, confirm, progress)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from jiedao.accounts.roles import Role
from jiedao.core.scopes import unscoped
from jiedao.registry import importing
from jiedao.registry.models import ImportJob, Person
from tests.registry import import_fixtures
from tests.registry.import_fixtures import (
    REGISTRY_HEADERS,
    csv_bytes,
    household_rows,
    registry_rows,
    upload,
)

# Fixtures shared by the import tests (a conftest of their own would collide with others').
homes = import_fixtures.homes
media = import_fixtures.media
street_staff = import_fixtures.street_staff

IMPORTERS_A = {Role.STREET_STAFF, Role.STREET_LEADER}
EVERYWHERE = {Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
ROLES = list(Role)


@pytest.fixture
def jobs(homes, role_users):
    """A checked job in street A and one in street B (uploaded by the district admin)."""
    job_a = upload(
        role_users[Role.STREET_STAFF],
        csv_bytes(REGISTRY_HEADERS, household_rows("H1", homes.a1x[0], 2)),
    )
    job_b = upload(
        role_users[Role.DISTRICT_ADMIN],
        csv_bytes(REGISTRY_HEADERS, household_rows("H2", homes.b1x[0], 2)),
        territory="110119002000",
    )
    return {"inside": importing.check(job_a), "outside": importing.check(job_b)}


@pytest.fixture
def immediate_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def expected_status(role: str, where: str) -> int:
    if role in EVERYWHERE or (role in IMPORTERS_A and where == "inside"):
        return 200
    if role in IMPORTERS_A:
        return 404
    return 403


PAGES = ["import_detail", "import_progress", "import_errors"]
# In this order: a refused mapping (400), a refused resume, a confirm, a refused cancel.
ACTIONS = ["import_mapping", "import_resume", "import_confirm", "import_cancel"]


@pytest.mark.parametrize("role", ROLES)
def test_job_pages_and_actions_inside_and_outside(client, jobs, role_users, role):
    client.force_login(role_users[role])
    for where, job in jobs.items():
        expected = expected_status(role, where)
        for page in PAGES:
            response = client.get(reverse(f"registry:{page}", args=[job.pk]))
            assert response.status_code == expected, (role, where, page)
        for action in ACTIONS:
            response = client.post(reverse(f"registry:{action}", args=[job.pk]), {})
            if expected == 200:
                assert response.status_code == (400 if action == "import_mapping" else 302)
            else:
                assert response.status_code == expected, (role, where, action)
        job.refresh_from_db()
        moved = ImportJob.State.IMPORTING if expected == 200 else ImportJob.State.CHECKED
        assert job.state == moved, (role, where)


@pytest.mark.parametrize("role", ROLES)
def test_list_and_upload_pages(client, jobs, role_users, role):
    client.force_login(role_users[role])
    listing = client.get(reverse("registry:import_list"))
    new = client.get(reverse("registry:import_new"))
    if role in IMPORTERS_A | EVERYWHERE:
        assert listing.status_code == new.status_code == 200
        shown = {job.pk for job in listing.context["page_obj"].object_list}
        expected = {jobs["inside"].pk} | ({jobs["outside"].pk} if role in EVERYWHERE else set())
        assert shown == expected
        choices = dict(new.context["form"].fields["territory"].choices)
        assert ("110119002000" in choices) == (role in EVERYWHERE)
        assert {"110119001000", "110119001001", "110119001002"} <= set(choices)
    else:
        assert listing.status_code == new.status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client, jobs):
    for url in (reverse("registry:import_list"), reverse("registry:import_detail", args=[1])):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


def test_uploading_outside_ones_territory_is_refused_by_the_form(client, homes, street_staff):
    client.force_login(street_staff)
    response = client.post(
        reverse("registry:import_new"),
        {
            "source": "registry",
            "territory": "110119002000",
            "file": SimpleUploadedFile("x.csv", b"a,b\n1,2\n"),
        },
    )
    assert response.status_code == 200
    assert "territory" in response.context["form"].errors
    assert ImportJob.all_objects.count() == 0


def test_the_whole_flow_through_the_pages(
    client, homes, street_staff, immediate_tasks, django_capture_on_commit_callbacks
):
    client.force_login(street_staff)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"  # the office's own language
    rows = registry_rows(homes.a1x, 2)
    rows[2][2] = "110119198005170000"  # a wrong check digit on row 4
    data = csv_bytes(REGISTRY_HEADERS, rows, "gbk")

    response = client.post(
        reverse("registry:import_new"),
        {
            "source": "registry",
            "territory": "110119001000",
            "file": SimpleUploadedFile("户籍.csv", data),
        },
    )
    job = ImportJob.all_objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:import_detail", args=[job.pk])

    page = client.get(response["Location"])
    form = page.context["mapping_form"]
    assert form["identity_number"].initial == "2" and form["address"].initial == "4"
    assert "户籍.csv" in page.content.decode()

    incomplete = client.post(reverse("registry:import_mapping", args=[job.pk]), {"name": "1"})
    assert incomplete.status_code == 400
    assert incomplete.context["mapping_form"].non_field_errors()

    mapping = {
        "household_number": "0",
        "name": "1",
        "identity_number": "2",
        "relation": "3",
        "address": "4",
    }
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("registry:import_mapping", args=[job.pk]), mapping)
    job.refresh_from_db()
    assert job.state == ImportJob.State.CHECKED
    report = client.get(reverse("registry:import_detail", args=[job.pk]))
    assert report.context["skipped"] == 1
    text = report.content.decode()
    assert "校验码" in text  # the problem, in the language of the request (zh-hans)
    assert "1 行有问题" in text or "1 row with problems will be skipped" in text

    workbook = client.get(reverse("registry:import_errors", args=[job.pk]))
    assert workbook["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert [cell.value for cell in sheet[2]][:2] == [4, "公民身份号码"]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("registry:import_confirm", args=[job.pk]))
    job.refresh_from_db()
    assert (job.state, job.created_count) == (ImportJob.State.DONE, 7)
    with unscoped():
        assert Person.objects.exclude(registry_digest="").count() == 7

    progress = client.get(
        reverse("registry:import_progress", args=[job.pk]), HTTP_HX_REQUEST="true"
    )
    assert progress["HX-Refresh"] == "true"  # the run is over: reload to show the report

    again = client.post(
        reverse("registry:import_new"),
        {
            "source": "registry",
            "territory": "110119001000",
            "file": SimpleUploadedFile("b.csv", data),
        },
        follow=True,
    )
    assert any("already imported" in str(m) or "已" in str(m) for m in again.context["messages"])
    assert again.context["earlier"]


def test_the_progress_bar_polls_while_the_dry_run_runs(client, homes, street_staff):
    job = upload(street_staff, csv_bytes(REGISTRY_HEADERS, registry_rows(homes.a1x)))
    ImportJob.all_objects.filter(pk=job.pk).update(
        state=ImportJob.State.CHECKING, processed_rows=3, total_rows=12
    )
    client.force_login(street_staff)
    response = client.get(
        reverse("registry:import_progress", args=[job.pk]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert 'value="25"' in html and "HX-Refresh" not in response
    detail = client.get(reverse("registry:import_detail", args=[job.pk])).content.decode()
    assert f'hx-get="{reverse("registry:import_progress", args=[job.pk])}"' in detail


def test_a_failed_import_offers_resume_and_resumes(
    client, homes, street_staff, immediate_tasks, django_capture_on_commit_callbacks
):
    job = importing.check(
        upload(street_staff, csv_bytes(REGISTRY_HEADERS, registry_rows(homes.a1x)))
    )
    ImportJob.all_objects.filter(pk=job.pk).update(
        state=ImportJob.State.FAILED, checkpoint_row=6, created_count=0, updated_count=0
    )
    client.force_login(street_staff)
    page = client.get(reverse("registry:import_detail", args=[job.pk])).content.decode()
    assert reverse("registry:import_resume", args=[job.pk]) in page
    assert reverse("registry:import_cancel", args=[job.pk]) not in page  # it had started
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("registry:import_resume", args=[job.pk]))
    job.refresh_from_db()
    # Rows 2–5 were "already committed" by the failed run: the resumed run starts at row 6.
    assert (job.state, job.created_count) == (ImportJob.State.DONE, 8)


def test_cancel_through_the_page(client, homes, street_staff):
    job = upload(street_staff, csv_bytes(REGISTRY_HEADERS, registry_rows(homes.a1x)))
    client.force_login(street_staff)
    client.post(reverse("registry:import_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.state == ImportJob.State.CANCELLED
    response = client.post(reverse("registry:import_confirm", args=[job.pk]), follow=True)
    assert any(
        "Only a checked import" in str(m) or "检查" in str(m) for m in response.context["messages"]
    )

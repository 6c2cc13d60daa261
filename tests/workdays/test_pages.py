"""The calendar pages and the API, as a user sees them."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from jiedao.accounts.roles import Role
from jiedao.core.scopes import unscoped
from jiedao.workdays.models import CalendarDay

pytestmark = pytest.mark.django_db


@pytest.fixture
def street_client(client, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    return client


def test_index_redirects_to_own_street_this_year(street_client, world):
    response = street_client.get(reverse("workdays:index"))
    assert response.status_code == 302 and world.street_a.code in response["Location"]


def test_year_page_shows_package_days_and_no_banner(street_client, world):
    page = street_client.get(reverse("workdays:year", args=[world.street_a.code, 2025])).content
    text = page.decode()
    assert "2025-10-11" in text and "wd-day--work" in text and "wd-day--off" in text
    assert "notice--warn" not in text


def test_fallback_year_has_a_banner(street_client, world):
    text = street_client.get(
        reverse("workdays:year", args=[world.street_a.code, 2027])
    ).content.decode()
    assert "notice--warn" in text and "2027" in text


def test_add_day_form_errors_and_success(street_client, world):
    url = reverse("workdays:add_day", args=[world.street_a.code])
    bad = street_client.post(url, {"date": "2027-02-30", "kind": "holiday"})
    assert bad.status_code == 200 and b"errorlist" in bad.content
    good = street_client.post(url, {"date": "2027-10-01", "kind": "holiday", "name": "国庆节"})
    assert good.status_code == 302 and good["Location"].endswith(f"/{world.street_a.code}/2027/")
    text = street_client.get(good["Location"]).content.decode()
    assert "国庆节" in text and "notice--warn" not in text  # 2027 now has entered days


def test_import_dry_run_then_confirm(street_client, world):
    url = reverse("workdays:import", args=[world.street_a.code])
    upload = _file("date,kind,name\n2027-10-01,holiday,国庆节\n2027-10-09,workday,国庆节调休\n")
    dry = street_client.post(url, {"file": upload})
    text = dry.content.decode()
    assert dry.status_code == 200 and 'name="confirm"' in text
    with unscoped():
        assert CalendarDay.objects.count() == 0
    signed = re.search(r'name="content" value="([^"]+)"', text).group(1)
    done = street_client.post(url, {"confirm": "1", "content": signed})
    assert done.status_code == 302
    with unscoped():
        assert CalendarDay.objects.count() == 2


def test_import_bad_file_shows_rows_and_no_confirm(street_client, world):
    url = reverse("workdays:import", args=[world.street_a.code])
    response = street_client.post(url, {"file": _file("date,kind\n2027-10-01,vacation\n")})
    text = response.content.decode()
    assert 'name="confirm"' not in text and "vacation" in text


def test_tampered_confirmation_is_refused(street_client, world):
    url = reverse("workdays:import", args=[world.street_a.code])
    assert street_client.post(url, {"confirm": "1", "content": "forged"}).status_code == 403


def test_api_deadline_domain_example(street_client, world):
    data = street_client.get(
        "/api/workdays/deadline", {"start": "2025-09-30T10:00:00", "days": 5}
    ).json()
    assert data["due_at"].startswith("2025-10-15T00:00:00") and data["due_at"].endswith("+08:00")
    assert data["due_date"] == "2025-10-14" and data["fallback_years"] == []
    assert data["code"] == world.street_a.code and "2025-10-14" in data["basis_note"]


def test_api_deadline_fallback_and_hours(street_client, world):
    data = street_client.get("/api/workdays/deadline", {"start": "2027-09-30", "days": 5}).json()
    assert data["fallback_years"] == [2027] and "2027" in data["basis_note"]
    hours = street_client.get(
        "/api/workdays/deadline", {"start": "2025-09-30T23:00:00+08:00", "hours": 2}
    ).json()
    assert hours["due_at"].startswith("2025-10-01T01:00:00")


@pytest.mark.parametrize(
    "params",
    [
        {"start": "yesterday", "days": 5},
        {"start": "2025-09-30", "days": -1},
        {"start": "2025-09-30", "days": 5, "hours": 2},
        {"start": "2025-09-30"},
    ],
)
def test_api_deadline_bad_input_is_422(street_client, params):
    response = street_client.get("/api/workdays/deadline", params)
    assert response.status_code == 422 and response.json()["code"] == "invalid"


def test_api_year(street_client, world):
    data = street_client.get(f"/api/workdays/calendars/{world.street_a.code}/2025").json()
    assert data["source"] == "package" and not data["fallback"]
    assert {
        "date": "2025-10-11",
        "working": True,
        "name": data["days"][-1]["name"],
        "source": "package",
    } in data["days"]
    fallback = street_client.get(f"/api/workdays/calendars/{world.street_a.code}/2027").json()
    assert fallback["fallback"] and "2027" in fallback["note"] and fallback["days"] == []


def test_nav_has_the_calendar(street_client):
    text = street_client.get(reverse("core:home")).content.decode()
    assert f'href="{reverse("workdays:index")}"' in text


def _file(text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("days.csv", text.encode("utf-8"), content_type="text/csv")

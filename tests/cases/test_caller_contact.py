"""The caller's contact as personal data (domain.md §10): ciphertext in the table, a blind index
for the hotline's exact search, masked on every page, in the API and in exports, revealed only
with a reason to those who may see it, each reveal one audit entry, and never in the trail."""

from __future__ import annotations

import importlib
import io
import json
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse
from openpyxl import load_workbook

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.cases import selectors
from jiedao.cases.models import Case
from jiedao.cases.services import reveal_contact, transition
from jiedao.cases.summons import summon_departments
from jiedao.core.crypto import blind_index, decrypt
from jiedao.core.scopes import unscoped
from tests.cases.conftest import submit

pytestmark = pytest.mark.django_db

PHONE = "13800138000"
NAME = "王小明"
REASON = "回访核实处理结果"
# Who may reveal a case in grid A1x (street A): staff who work cases there.
REVEALERS = {
    Role.GRID_WORKER,
    Role.WORKSTATION_STAFF,
    Role.STREET_STAFF,
    Role.STREET_LEADER,
    Role.DISTRICT_ADMIN,
    Role.SYSTEM_ADMIN,
}
# Who sees the case at all (the others get 404, as for any case outside their scope).
VIEWERS = REVEALERS | {Role.COMMITTEE_MEMBER}


@pytest.fixture(autouse=True)
def english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def called(world, categories):
    return submit(world.grid_a1x, categories["sanitation"], caller_name=NAME, caller_phone=PHONE)


def raw_row(case) -> tuple[str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT caller_name, caller_phone, caller_phone_index FROM cases_case WHERE id = %s",
            [case.pk],
        )
        return cursor.fetchone()


def reveals() -> list[AuditEntry]:
    with unscoped():
        return list(AuditEntry.objects.filter(kind=AuditEntry.Kind.SENSITIVE_READ))


def htmx_reveal(client, case, field, reason=REASON):
    return client.post(
        reverse("cases:reveal_contact", args=[case.pk]),
        {"field": field, "reason": reason},
        HTTP_HX_REQUEST="true",
    )


# --- At rest ----------------------------------------------------------------------------------


def test_the_table_holds_ciphertext_and_a_blind_index(called):
    name, phone, index = raw_row(called)
    assert NAME not in name and "138" not in phone and "8000" not in phone
    assert (decrypt(name), decrypt(phone)) == (NAME, PHONE)
    assert index == blind_index("phone", PHONE) and len(index) == 64
    with unscoped():
        assert Case.objects.get(pk=called.pk).caller_phone == PHONE  # plaintext in Python


def test_the_index_survives_every_save_and_an_empty_phone_has_none(world, categories, called):
    transition(None, called, "register")
    _, phone, index = raw_row(called)
    assert index == blind_index("phone", PHONE) and decrypt(phone) == PHONE
    patrol = submit(world.grid_a1x, categories["sanitation"], channel="patrol")
    assert raw_row(patrol) == ("", "", "")


def test_encrypted_columns_refuse_a_plaintext_lookup(called):
    from django.core.exceptions import FieldError

    with unscoped(), pytest.raises(FieldError):
        Case.objects.filter(caller_phone=PHONE).exists()


# --- Search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "008613800138000",
        "8613800138000",
        "１３８００１３８０００",
    ],
)
def test_the_hotline_finds_the_caller_however_the_number_is_written(role_users, called, typed):
    assert list(selectors.cases_by_phone(role_users[Role.STREET_STAFF], typed)) == [called]


@pytest.mark.parametrize("typed", ["13800138001", "3800138000", "138001", ""])
def test_another_or_a_partial_number_finds_nothing(role_users, called, typed):
    assert list(selectors.cases_by_phone(role_users[Role.STREET_STAFF], typed)) == []


def test_the_history_shows_masked_contacts_only(client, role_users, called):
    client.force_login(role_users[Role.STREET_STAFF])
    page = client.get(reverse("cases:caller_history"), {"caller_phone": "+86 138 0013 8000"})
    html = page.content.decode()
    assert f"#{called.pk}" in html and "王*明" in html and "138****8000" in html
    assert NAME not in html and PHONE not in html


# --- The case page ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_page_masks_and_offers_reveal_only_to_those_who_may(client, role_users, called, role):
    client.force_login(role_users[role])
    page = client.get(called.get_absolute_url())
    if role not in VIEWERS:
        assert page.status_code == 404
        return
    html = page.content.decode()
    assert page.status_code == 200 and PHONE not in html and NAME not in html
    may = role in REVEALERS
    assert ("138****8000" in html) is may and ("王*明" in html) is may
    assert (reverse("cases:reveal_contact", args=[called.pk]) in html) is may


@pytest.mark.parametrize("role", list(Role))
def test_reveal_by_role_inside_the_territory(client, role_users, called, role):
    client.force_login(role_users[role])
    response = htmx_reveal(client, called, "caller_phone")
    if role in REVEALERS:
        assert response.status_code == 200
        assert f'<a href="tel:{PHONE}">{PHONE}</a>' in response.content.decode()
        assert len(reveals()) == 1
    else:
        assert response.status_code == (403 if role in VIEWERS else 404)
        assert reveals() == []


@pytest.mark.parametrize("role", sorted(REVEALERS - {Role.SYSTEM_ADMIN}))
def test_reveal_outside_the_territory_is_not_found(client, world, role_users, categories, role):
    far = submit(world.grid_b1x, categories["sanitation"], caller_phone=PHONE)
    client.force_login(role_users[role])
    expected = 200 if role == Role.DISTRICT_ADMIN else 404  # the district covers street B
    assert htmx_reveal(client, far, "caller_phone").status_code == expected


def test_a_reveal_writes_one_sensitive_read_with_the_reason(client, role_users, called):
    user = role_users[Role.WORKSTATION_STAFF]
    client.force_login(user)
    response = htmx_reveal(client, called, "caller_name")
    html = response.content.decode()
    assert NAME in html and PHONE not in html  # only the field asked for
    assert "no-store" in response["Cache-Control"]
    [entry] = reveals()
    assert (entry.action, entry.note, entry.actor_id) == ("reveal.caller_name", REASON, user.pk)
    assert (entry.object_type, entry.object_id) == ("cases.case", str(called.pk))
    assert entry.territory_code == called.territory_code


def test_a_missing_reason_reveals_nothing(client, role_users, called):
    client.force_login(role_users[Role.STREET_STAFF])
    response = htmx_reveal(client, called, "caller_phone", reason="  ok ")
    html = response.content.decode()
    assert response.status_code == 200 and "Say why you need to see it" in html
    assert "138****8000" in html and PHONE not in html and reveals() == []
    response = client.post(reverse("cases:reveal_contact", args=[called.pk]), {"reason": REASON})
    assert response.status_code == 404 and reveals() == []  # no such field


def test_without_javascript_the_page_comes_back_with_the_field_shown(client, role_users, called):
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.post(
        reverse("cases:reveal_contact", args=[called.pk]),
        {"field": "caller_phone", "reason": REASON},
    )
    html = response.content.decode()
    assert response.status_code == 200 and PHONE in html and NAME not in html and "王*明" in html
    assert len(reveals()) == 1
    assert client.get(reverse("cases:reveal_contact", args=[called.pk])).status_code == 405


def test_a_summoned_department_may_not_reveal(world, role_users, called):
    transition(None, called, "register")
    summon_departments(None, called, [world.department], "需要执法")
    with pytest.raises(PermissionDenied):
        reveal_contact(role_users[Role.DEPARTMENT_STAFF], called, "caller_phone", REASON)
    assert reveals() == []


def test_an_anonymous_callers_phone_only_to_those_who_call_back(world, role_users, categories):
    case = submit(world.grid_a1x, categories["sanitation"], caller_phone=PHONE, anonymous=True)
    assert reveal_contact(role_users[Role.GRID_WORKER], case, "caller_phone", REASON) == PHONE
    with pytest.raises(PermissionDenied):
        reveal_contact(role_users[Role.STREET_LEADER], case, "caller_phone", REASON)
    assert len(reveals()) == 1


def test_service_refuses_bad_input_and_logs_nothing(role_users, called):
    staff = role_users[Role.STREET_STAFF]
    with pytest.raises(ValidationError):
        reveal_contact(staff, called, "caller_phone", "   ")
    with pytest.raises(ValueError):
        reveal_contact(staff, called, "description", REASON)
    assert reveals() == []


# --- API --------------------------------------------------------------------------------------


def api_reveal(client, case, body):
    return client.post(
        f"/api/cases/{case.pk}/reveal", json.dumps(body), content_type="application/json"
    )


def test_api_masks_and_reveals_with_a_reason(client, role_users, called):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    detail = client.get(f"/api/cases/{called.pk}").json()
    assert (detail["caller_name"], detail["caller_phone"]) == ("王*明", "138****8000")
    response = api_reveal(client, called, {"field": "caller_phone", "reason": REASON})
    assert response.status_code == 200 and response.json() == {
        "field": "caller_phone",
        "value": PHONE,
    }
    assert "no-store" in response["Cache-Control"]
    assert [e.action for e in reveals()] == ["reveal.caller_phone"]


@pytest.mark.parametrize(
    ("role", "body", "status"),
    [
        (Role.STREET_STAFF, {"field": "caller_phone", "reason": "x"}, 422),
        (Role.STREET_STAFF, {"field": "identity_number", "reason": REASON}, 422),
        (Role.STREET_STAFF, {"field": "caller_phone"}, 422),
        (Role.COMMITTEE_MEMBER, {"field": "caller_phone", "reason": REASON}, 403),
        (Role.RESIDENT, {"field": "caller_phone", "reason": REASON}, 404),
    ],
)
def test_api_refusals_reveal_nothing(client, role_users, called, role, body, status):
    client.force_login(role_users[role])
    response = api_reveal(client, called, body)
    assert response.status_code == status and PHONE not in response.content.decode()
    assert reveals() == []


# --- Exports and the audit trail --------------------------------------------------------------


def test_the_desk_export_masks_the_caller(client, world, role_users, called, categories):
    anonymous = submit(
        world.grid_a1x, categories["sanitation"], caller_phone="13900139000", anonymous=True
    )
    client.force_login(role_users[Role.STREET_LEADER])  # may not see anonymous callers
    response = client.get(reverse("cases:desk"), {"queue": "received", "format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[called.pk][-2:] == ("王*明", "138****8000")
    assert by_id[anonymous.pk][-2:] in (("", ""), (None, None))
    cells = " ".join(str(cell) for row in rows for cell in row)
    assert PHONE not in cells and NAME not in cells and "13900139000" not in cells


def test_no_plaintext_or_index_reaches_the_audit_trail(world, role_users, called):
    transition(None, called, "register")
    transition(None, called, "dispatch")
    reveal_contact(role_users[Role.STREET_STAFF], called, "caller_phone", REASON)
    with unscoped():
        entries = list(AuditEntry.objects.all())
    assert len(entries) >= 4
    index = blind_index("phone", PHONE)
    for entry in entries:
        text = json.dumps([entry.before, entry.after, entry.note], ensure_ascii=False)
        assert PHONE not in text and NAME not in text and index not in text
        assert "caller_phone" not in json.dumps([entry.before, entry.after])


# --- Key rotation -----------------------------------------------------------------------------


def test_the_hotline_finds_callers_during_and_after_a_key_rotation(settings, role_users, called):
    from cryptography.fernet import Fernet

    from jiedao.core.management.commands.rotate_field_key import rotate_all

    old_index = raw_row(called)[2]
    settings.JIEDAO_FIELD_KEYS_OLD = settings.JIEDAO_FIELD_KEY
    settings.JIEDAO_FIELD_KEY = Fernet.generate_key().decode()
    staff = role_users[Role.STREET_STAFF]
    assert list(selectors.cases_by_phone(staff, PHONE)) == [called]  # old index, old key
    rotate_all([Case])
    name, phone, index = raw_row(called)
    assert index == blind_index("phone", PHONE) != old_index
    assert (decrypt(name), decrypt(phone)) == (NAME, PHONE)
    settings.JIEDAO_FIELD_KEYS_OLD = ""  # the old key is dropped
    assert list(selectors.cases_by_phone(staff, "138 0013 8000")) == [called]


# --- The data migration -----------------------------------------------------------------------


def test_the_migration_encrypts_plaintext_rows_and_can_undo_it(called):
    migration = importlib.import_module("jiedao.cases.migrations.0004_encrypt_caller_contact")
    editor = SimpleNamespace(connection=connection)
    with connection.cursor() as cursor:  # a row as issue 3 stored it
        cursor.execute(
            "UPDATE cases_case SET caller_name = %s, caller_phone = %s, caller_phone_index = '' "
            "WHERE id = %s",
            [NAME, "138 0013 8000", called.pk],
        )
    migration.encrypt_contacts(None, editor)
    name, phone, index = raw_row(called)
    assert (decrypt(name), decrypt(phone)) == (NAME, "138 0013 8000")
    assert index == blind_index("phone", PHONE)
    migration.encrypt_contacts(None, editor)  # a re-run leaves encrypted rows readable
    assert decrypt(raw_row(called)[1]) == "138 0013 8000"
    migration.decrypt_contacts(None, editor)
    assert raw_row(called) == (NAME, "138 0013 8000", "")


def test_a_revealed_phone_is_dialled_as_digits(client, world, role_users, categories):
    case = submit(world.grid_a1x, categories["sanitation"], caller_phone="+86 138-0013-8000")
    client.force_login(role_users[Role.GRID_WORKER])
    html = htmx_reveal(client, case, "caller_phone").content.decode()
    assert '<a href="tel:13800138000">+86 138-0013-8000</a>' in html

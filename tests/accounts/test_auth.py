from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.hashers import identify_hasher, make_password
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from jiedao.accounts.models import RoleGrant
from jiedao.accounts.roles import Role
from jiedao.accounts.services import confirm_totp, issue_api_token, start_totp_enrolment
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from tests.factories import PASSWORD, user_with_role


def _login(client, username, password=PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_production_hasher_is_argon2():
    assert settings.PASSWORD_HASHERS[1] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    hashed = make_password("s3cret-passphrase", hasher="argon2")
    assert identify_hasher(hashed).algorithm == "argon2"


def test_login_and_audit(client, world, role_users):
    response = _login(client, "street")
    assert response.status_code == 302 and response["Location"] == "/home/"
    assert client.get("/home/").status_code == 200
    with unscoped():
        assert AuditEntry.objects.filter(
            action="accounts.login", actor=role_users[Role.STREET_STAFF]
        ).exists()


def test_wrong_password_is_refused(client, world, role_users):
    response = _login(client, "street", "wrong-password")
    assert response.status_code == 200
    assert client.get("/home/").status_code == 302


def test_lockout_after_five_failures(client, world, role_users):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "street", "wrong-password")
    locked = _login(client, "street")  # even the right password is refused now
    assert locked.status_code == 429
    assert client.get("/home/").status_code == 302


def test_open_redirect_is_refused(client, world, role_users):
    response = client.post(
        "/accounts/login/?next=https://evil.example/", {"username": "street", "password": PASSWORD}
    )
    assert response["Location"] == "/home/"


def test_session_expires_within_a_working_day():
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert settings.SESSION_COOKIE_HTTPONLY


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def test_totp_enrolment_and_two_step_login(client, world, role_users):
    user = role_users[Role.STREET_LEADER]
    device = start_totp_enrolment(user)
    wrong_code = f"{(int(_code(device)) + 1) % 1000000:06d}"
    assert not confirm_totp(user, device, wrong_code)
    assert not confirm_totp(user, device, _code(device))  # throttled right after a failure
    device.throttle_reset()
    assert confirm_totp(user, device, _code(device))

    first = _login(client, "leader")
    assert first["Location"] == "/accounts/login/code/"
    assert client.get("/home/").status_code == 302  # not signed in after the password alone
    wrong = client.post("/accounts/login/code/", {"token": "12345x"})
    assert wrong.status_code == 200
    device.refresh_from_db()
    device.last_t = -1  # confirming used this step's code; allow it once more for the test
    device.throttle_reset(commit=False)  # the wrong code above throttles the next try
    device.save()
    ok = client.post("/accounts/login/code/", {"token": _code(device)})
    assert ok.status_code == 302
    assert client.get("/home/").status_code == 200


def test_security_page_offers_enrolment(client, world, role_users):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    response = client.post("/accounts/security/", {"start": "1"})
    assert response.status_code == 200
    assert b"data:image/svg+xml;base64," in response.content


def test_grant_must_match_role_level(world):
    from django.core.exceptions import ValidationError

    from tests.factories import UserFactory

    grant = RoleGrant(user=UserFactory(), role=Role.GRID_WORKER, community=world.community_a1)
    with pytest.raises(ValidationError):
        grant.full_clean()


def test_revoked_grant_no_longer_scopes(world, role_users):
    from jiedao.accounts.services import revoke_grant

    user = role_users[Role.GRID_WORKER]
    assert user.scope.covers_code(world.grid_a1x.code)
    revoke_grant(role_users[Role.SYSTEM_ADMIN], user.active_grants[0])
    assert not user.scope.covers_code(world.grid_a1x.code)


def test_api_token_auth(client, world, role_users):
    user = role_users[Role.GRID_WORKER]
    token, key = issue_api_token(role_users[Role.SYSTEM_ADMIN], user, "巡查终端")
    assert key not in token.key_hash
    response = client.get("/api/territory/buildings", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert {row["territory_code"] for row in response.json()["items"]} == {world.grid_a1x.code}
    bad = client.get("/api/territory/buildings", HTTP_AUTHORIZATION="Bearer jd_not-a-key")
    assert bad.status_code == 401


def test_expired_or_revoked_token_is_refused(client, world, role_users):
    from django.utils import timezone

    user = role_users[Role.GRID_WORKER]
    _token, key = issue_api_token(None, user, "old", expires_at=timezone.now())
    assert (
        client.get("/api/territory/buildings", HTTP_AUTHORIZATION=f"Bearer {key}").status_code
        == 401
    )


def test_user_with_no_grant_sees_nothing(client, world):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="nobody"))
    assert client.get("/api/territory/streets").json()["items"] == []


def test_system_admin_is_only_for_whole_system(world):
    user = user_with_role(Role.SYSTEM_ADMIN, username="root2")
    assert user.scope.everything


def test_issue_api_token_command(client, world, role_users, capsys):
    from django.core.management import call_command

    call_command("issue_api_token", "street", "12345 热线网关", "--days", "30")
    key = capsys.readouterr().out.splitlines()[1]
    response = client.get("/api/territory/communities", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200 and response.json()["count"] == 2


def test_issue_api_token_for_unknown_user_fails(db):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No active user"):
        call_command("issue_api_token", "ghost", "x")


def test_password_step_expires_and_needs_an_active_user(client, world, role_users):
    from freezegun import freeze_time

    user = role_users[Role.STREET_LEADER]
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    with freeze_time("2026-11-22 09:00:00"):
        assert _login(client, "leader")["Location"] == "/accounts/login/code/"
        assert client.get("/accounts/login/code/").status_code == 200
    with freeze_time("2026-11-22 09:06:00"):
        assert client.get("/accounts/login/code/")["Location"] == "/accounts/login/"
    with freeze_time("2026-11-22 10:00:00"):
        _login(client, "leader")
        user.is_active = False
        user.save()
        assert client.get("/accounts/login/code/")["Location"] == "/accounts/login/"


def test_elder_mode_toggle_refuses_foreign_redirects(client, world, role_users):
    client.force_login(role_users[Role.RESIDENT])
    response = client.post("/elder-mode/", {"next": "https://evil.example/"})
    assert response["Location"] == "/home/"
    assert client.post("/elder-mode/", {"next": "/home/?x=1"})["Location"] == "/home/?x=1"

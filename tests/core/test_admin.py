from __future__ import annotations

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped


def test_admin_is_for_system_administrators(client, world, role_users):
    client.force_login(role_users[Role.DISTRICT_ADMIN])
    assert client.get("/admin/territory/grid/").status_code == 302  # not staff: sent to admin login
    client.force_login(role_users[Role.SYSTEM_ADMIN])
    response = client.get("/admin/territory/grid/")
    assert response.status_code == 200 and "香水园第一网格" in response.content.decode()


def test_admin_change_is_audited_and_delete_is_off(client, world, role_users):
    admin = role_users[Role.SYSTEM_ADMIN]
    client.force_login(admin)
    grid = world.grid_a1y
    response = client.post(
        f"/admin/territory/grid/{grid.pk}/change/",
        {"name": "改名网格", "code": grid.code, "community": grid.community_id},
    )
    assert response.status_code == 302, response.content[:2000]
    with unscoped():
        entry = AuditEntry.objects.get(action="admin.grid.update")
    assert entry.before["name"] == "香水园第二网格" and entry.after["name"] == "改名网格"
    assert client.get(f"/admin/territory/grid/{grid.pk}/delete/").status_code == 403


def test_audit_entries_are_read_only_in_admin(client, world, role_users):
    client.force_login(role_users[Role.SYSTEM_ADMIN])
    assert client.get("/admin/audit/auditentry/add/").status_code == 403


def test_admin_login_page_sends_to_jiedao_sign_in(client, db):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_admin_login_cannot_skip_the_second_factor(client, world, role_users):
    """The stock admin login asked for the password only; it must not sign anyone in."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    admin = role_users[Role.SYSTEM_ADMIN]
    TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    response = client.post(
        "/admin/login/", {"username": "admin", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get("/home/").status_code == 302  # not signed in


def test_grant_inline_and_password_change_are_audited(client, world, role_users):
    admin = role_users[Role.SYSTEM_ADMIN]
    client.force_login(admin)
    target = role_users[Role.GRID_WORKER]
    grant = target.active_grants[0]
    form = {
        "username": target.username,
        "display_name": "改名",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "grants-TOTAL_FORMS": "2",
        "grants-INITIAL_FORMS": "1",
        "grants-MIN_NUM_FORMS": "0",
        "grants-MAX_NUM_FORMS": "1000",
        "grants-0-id": grant.pk,
        "grants-0-user": target.pk,
        "grants-0-role": "grid_worker",
        "grants-0-grid": world.grid_a1x.pk,
        "grants-0-granted_at_0": "2026-01-01",
        "grants-0-granted_at_1": "00:00:00",
        "grants-1-user": target.pk,
        "grants-1-role": "street_leader",
        "grants-1-street": world.street_b.pk,
        "grants-1-granted_at_0": "2026-01-01",
        "grants-1-granted_at_1": "00:00:00",
    }
    response = client.post(f"/admin/accounts/user/{target.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    with unscoped():
        actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert "admin.user.update" in actions and "admin.rolegrant.create" in actions
    response = client.post(
        f"/admin/accounts/user/{target.pk}/password/",
        {
            "password1": "a-new-long-passphrase",
            "password2": "a-new-long-passphrase",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    with unscoped():
        assert AuditEntry.objects.filter(action="admin.user.password").exists()


def test_totp_device_admin_hides_the_secret_and_deletes_are_audited(client, world, role_users):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(role_users[Role.SYSTEM_ADMIN])
    device = TOTPDevice.objects.create(
        user=role_users[Role.STREET_STAFF], name="phone", confirmed=True
    )
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert page.status_code == 200 and device.key not in page.content.decode()
    client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    with unscoped():
        assert AuditEntry.objects.filter(action="admin.totpdevice.delete").exists()
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()


def test_failed_sign_in_and_sign_out_are_audited(client, world, role_users):
    client.post("/accounts/login/", {"username": "street", "password": "wrong-password"})
    client.force_login(role_users[Role.STREET_STAFF])
    client.post("/accounts/logout/")
    with unscoped():
        actions = list(AuditEntry.objects.values_list("action", "actor_label"))
    assert ("accounts.login_failed", "anonymous (street)") in actions
    assert ("accounts.logout", "street") in actions

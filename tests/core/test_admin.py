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

"""The fixed demo sign-ins. README, ``demo_world``, ``run_demo`` and the browser tests all read
this one table, so a change here changes them together."""

from __future__ import annotations

from dataclasses import dataclass

from jiedao.accounts.roles import Role

DEMO_PASSWORD = "jiedao-demo-2026"  # noqa: S105 - published demo password, never a real one


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    # Which generated node the grant sits on: district, street, community1, grid1, department1,
    # or "" for the whole system.
    node: str
    display_name: str


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("resident", Role.RESIDENT, "community1", "居民 王秀兰"),
    DemoLogin("gridworker", Role.GRID_WORKER, "grid1", "网格员 李建军"),
    DemoLogin("workstation", Role.WORKSTATION_STAFF, "community1", "社区工作站 张丽"),
    DemoLogin("committee", Role.COMMITTEE_MEMBER, "community1", "居委会委员 刘海燕"),
    DemoLogin("street", Role.STREET_STAFF, "street", "街道办 陈明"),
    DemoLogin("leader", Role.STREET_LEADER, "street", "街道主任 赵志刚"),
    DemoLogin("department", Role.DEPARTMENT_STAFF, "department1", "区城管委 孙涛"),
    DemoLogin("district", Role.DISTRICT_ADMIN, "district", "区管理员 周磊"),
    DemoLogin("admin", Role.SYSTEM_ADMIN, "", "系统管理员"),
)


def login_table() -> str:
    """The demo sign-ins as a plain-text table, with the name of each grant's node as stored
    (printed by demo_world and run_demo)."""
    from django.utils.translation import gettext as _

    rows = [(_("Username"), _("Role"), _("Granted on"))]
    nodes = _granted_nodes()
    for login in DEMO_LOGINS:
        node = nodes.get(login.username, _("(not created)"))
        rows.append((login.username, str(Role(login.role).label), node))
    widths = [max(_width(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(_("Password for all: %(password)s") % {"password": DEMO_PASSWORD})
    return "\n".join(lines)


def _granted_nodes() -> dict[str, str]:
    from django.utils.translation import gettext as _

    from jiedao.accounts.models import RoleGrant
    from jiedao.core.scopes import unscoped

    usernames = [login.username for login in DEMO_LOGINS]
    with unscoped():
        grants = RoleGrant.objects.filter(
            user__username__in=usernames, revoked_at__isnull=True
        ).select_related("user", *RoleGrant.NODE_FIELDS)
        return {
            g.user.username: str(g.node) if g.node is not None else _("the whole system")
            for g in grants
        }


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))

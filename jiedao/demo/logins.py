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

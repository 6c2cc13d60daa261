"""Persons with identity numbers and phones in the `world` grids, for the person page tests."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from stdnum.cn import ric

from jiedao.accounts.roles import Role
from jiedao.core.scopes import unscoped
from jiedao.registry import services
from jiedao.registry.models import Person

# Grid key → (name, birth date, identity serial, phone). Identity numbers are generated with a
# valid check digit; the serial's last digit gives the sex (odd: male).
PEOPLE = {
    "a1x": ("王小明", datetime.date(1950, 3, 7), 123, "13812345678"),
    "a1y": ("李红", datetime.date(1988, 11, 2), 246, "13987654321"),
    "a2x": ("赵刚", datetime.date(2012, 6, 30), 315, "13700001111"),
    "b1x": ("孙丽", datetime.date(1975, 1, 15), 428, "13600002222"),
}
ADDRESS = "北京市延庆区香水园路12号3号楼2单元301室"

# Which grids' persons each role may browse (domain.md §10, written out by hand).
BROWSE = {
    Role.RESIDENT: None,  # 403: no registry role
    Role.GRID_WORKER: {"a1x"},
    Role.WORKSTATION_STAFF: {"a1x", "a1y"},
    Role.COMMITTEE_MEMBER: {"a1x", "a1y"},
    Role.STREET_STAFF: {"a1x", "a1y", "a2x"},
    Role.STREET_LEADER: {"a1x", "a1y", "a2x"},
    Role.DEPARTMENT_STAFF: None,  # 403
    Role.DISTRICT_ADMIN: {"a1x", "a1y", "a2x", "b1x"},
    Role.SYSTEM_ADMIN: {"a1x", "a1y", "a2x", "b1x"},
}
# Roles that may reveal and edit (REGISTRY_REVEALERS / EDITORS; the system administrator is a
# superuser, who passes every permission check).
REVEALERS = {
    Role.GRID_WORKER,
    Role.WORKSTATION_STAFF,
    Role.STREET_STAFF,
    Role.STREET_LEADER,
    Role.SYSTEM_ADMIN,
}
EDITORS = REVEALERS


def identity_number(region: str, birth: datetime.date, serial: int) -> str:
    """A valid 18-character number. (core.identity.make_identity_number passes 17 characters
    to stdnum's calc_check_digit, which expects the check digit place included: see report.)"""
    body = f"{region[:6]}{birth:%Y%m%d}{serial % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


@dataclass
class Someone:
    person: Person
    identity: str
    phone: str


def people(world) -> dict[str, Someone]:
    """The world's person in each grid, given a name, identity number, phone and address."""
    found = {}
    for key, (name, birth, serial, phone) in PEOPLE.items():
        identity = identity_number("110119", birth, serial)
        person = services.save_person(
            None,
            world.persons[key],
            {
                "name": name,
                "identity_number": identity,
                "phone": phone,
                "registered_address": ADDRESS,
            },
            source="office",
        )
        found[key] = Someone(person, identity, phone)
    return found


def fresh(person: Person) -> Person:
    with unscoped():
        return Person.all_objects.get(pk=person.pk)


def status_for(role, key: str, allowed_roles=None) -> int:
    """The status a page about the person in grid ``key`` gives ``role``: 403 without the
    registry (or without ``allowed_roles`` where the page needs more), 404 outside the
    territory, else 200."""
    seen = BROWSE[role]
    if seen is None:
        return 403
    if key not in seen:
        return 404
    if allowed_roles is not None and role not in allowed_roles:
        return 403
    return 200


def sheet_rows(response) -> list[list]:
    """The cells of an XLSX response's first sheet."""
    from io import BytesIO

    from openpyxl import load_workbook

    assert response.status_code == 200, response.status_code
    sheet = load_workbook(BytesIO(response.content)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]

"""The roles of domain.md and the territory level each is granted on."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    GRID_WORKER = "grid_worker", _("Grid worker")
    WORKSTATION_STAFF = "workstation_staff", _("Community workstation staff")
    COMMITTEE_MEMBER = "committee_member", _("Resident-committee member")
    STREET_STAFF = "street_staff", _("Street-office staff")
    STREET_LEADER = "street_leader", _("Street leader")
    DEPARTMENT_STAFF = "department_staff", _("District department staff")
    DISTRICT_ADMIN = "district_admin", _("District administrator")
    SYSTEM_ADMIN = "system_admin", _("System administrator")


# The node a grant of each role sits on (None: the whole system).
ROLE_LEVEL: dict[str, str | None] = {
    Role.RESIDENT: "community",
    Role.GRID_WORKER: "grid",
    Role.WORKSTATION_STAFF: "community",
    Role.COMMITTEE_MEMBER: "community",
    Role.STREET_STAFF: "street",
    Role.STREET_LEADER: "street",
    Role.DEPARTMENT_STAFF: "department",
    Role.DISTRICT_ADMIN: "district",
    Role.SYSTEM_ADMIN: None,
}

STAFF_ROLES = frozenset(Role) - {Role.RESIDENT}
# Roles that may edit the territory (buildings, dwellings, addresses, organisations) in their scope.
TERRITORY_EDITORS = frozenset(
    {
        Role.WORKSTATION_STAFF,
        Role.STREET_STAFF,
        Role.STREET_LEADER,
        Role.DISTRICT_ADMIN,
        Role.SYSTEM_ADMIN,
    }
)
# Who may create, redraw or retire territory nodes of each level.
_STREET_UP = frozenset(
    {Role.STREET_STAFF, Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN}
)
_DISTRICT_UP = frozenset({Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN})
STRUCTURE_EDITORS: dict[str, frozenset[str]] = {
    "grid": _STREET_UP,
    "community": _DISTRICT_UP,
    "street": _DISTRICT_UP,
    "district": frozenset({Role.SYSTEM_ADMIN}),
}
# Roles that may read the audit trail of their territory.
AUDIT_READERS = frozenset({Role.STREET_LEADER, Role.DISTRICT_ADMIN, Role.SYSTEM_ADMIN})
# The population registry (domain.md §10): who reads persons (masked), edits them, reveals a
# masked value (with a reason, audited) and imports the two sources.
REGISTRY_READERS = frozenset(
    {
        Role.GRID_WORKER,
        Role.WORKSTATION_STAFF,
        Role.COMMITTEE_MEMBER,
        Role.STREET_STAFF,
        Role.STREET_LEADER,
        Role.DISTRICT_ADMIN,
        Role.SYSTEM_ADMIN,
    }
)
REGISTRY_EDITORS = frozenset(
    {Role.GRID_WORKER, Role.WORKSTATION_STAFF, Role.STREET_STAFF, Role.STREET_LEADER}
)
REGISTRY_REVEALERS = REGISTRY_EDITORS
REGISTRY_IMPORTERS = frozenset({Role.STREET_STAFF, Role.STREET_LEADER, Role.DISTRICT_ADMIN})

from __future__ import annotations

from dataclasses import dataclass

import pytest

from jiedao.accounts.roles import Role
from tests import factories as f
from tests.cases.conftest import case, categories  # noqa: F401  (fixtures)
from tests.notify import backends


@dataclass
class Outsiders:
    """People who must not hear of a case in grid A1x (community A1, street A): the same roles
    elsewhere, and colleagues whose grant was revoked or whose account is off."""

    workstation_a2: object
    workstation_b1: object
    grid_worker_a1y: object
    street_staff_b: object
    street_leader_b: object
    other_department: object
    revoked_workstation_a1: object
    inactive_workstation_a1: object

    def pks(self) -> set[int]:
        return {user.pk for user in vars(self).values()}


@pytest.fixture
def outsiders(world) -> Outsiders:
    revoked = f.user_with_role(Role.WORKSTATION_STAFF, world.community_a1, username="revoked")
    revoked.grants.update(revoked_at="2025-01-01T00:00:00+08:00")
    inactive = f.user_with_role(Role.WORKSTATION_STAFF, world.community_a1, username="inactive")
    inactive.is_active = False
    inactive.save()
    return Outsiders(
        workstation_a2=f.user_with_role(
            Role.WORKSTATION_STAFF, world.community_a2, username="ws-a2"
        ),
        workstation_b1=f.user_with_role(
            Role.WORKSTATION_STAFF, world.community_b1, username="ws-b1"
        ),
        grid_worker_a1y=f.user_with_role(Role.GRID_WORKER, world.grid_a1y, username="gw-a1y"),
        street_staff_b=f.user_with_role(Role.STREET_STAFF, world.street_b, username="street-b"),
        street_leader_b=f.user_with_role(Role.STREET_LEADER, world.street_b, username="leader-b"),
        other_department=f.user_with_role(
            Role.DEPARTMENT_STAFF, world.other_department, username="dept-other"
        ),
        revoked_workstation_a1=revoked,
        inactive_workstation_a1=inactive,
    )


@pytest.fixture
def recording_sms(settings):
    settings.JIEDAO_SMS_BACKEND = "tests.notify.backends.RecordingBackend"
    backends.RecordingBackend.outbox.clear()
    return backends.RecordingBackend.outbox

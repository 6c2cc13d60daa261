"""Who does field work and who supervises it; every list is still filtered by scope.

* ``fieldwork.record``: a grid worker in their grid (object: a grid, household or patrol; a
  patrol also has to be their own). Starts patrols, uploads the track, records visits. Ending a
  patrol needs only to be its worker (``services.end_patrol``): a worker moved to another grid
  still ends the patrol they left open.
* ``fieldwork.browse``: the supervisors of a territory — community workstation staff, street
  staff and leaders, district administrators, system administrators. Read patrols and the
  attendance summary of the grid workers there, and close a patrol its worker left open.
  Resident-committee members, residents and district departments have no part in field work.
"""

from __future__ import annotations

from typing import Any

import rules
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.predicates import role_in_territory
from jiedao.accounts.roles import Role

WORKERS = frozenset({Role.GRID_WORKER})
SUPERVISORS = frozenset(
    {
        Role.WORKSTATION_STAFF,
        Role.STREET_STAFF,
        Role.STREET_LEADER,
        Role.DISTRICT_ADMIN,
        Role.SYSTEM_ADMIN,
    }
)

_worker_in_territory = role_in_territory(*WORKERS)


@rules.predicate
def records_field_work(user: Any, obj: Any = None) -> bool:
    """A grid worker in the object's grid; on a patrol, only its own worker."""
    if not _worker_in_territory.test(user, obj):
        return False
    worker_id = getattr(obj, "worker_id", None)
    return worker_id is None or worker_id == user.pk


rules.add_perm("fieldwork.record", records_field_work)
rules.add_perm("fieldwork.browse", role_in_territory(*SUPERVISORS))

NOT_YOURS = _("Field work does not allow this for your role or territory.")


def is_worker(user: Any, obj: Any = None) -> bool:
    """``fieldwork.record`` without the superuser shortcut of ``has_perm``: field work is done
    by a grid worker on their own grant, never by an administrator on someone's behalf."""
    return bool(records_field_work.test(user, obj))


def require_worker(user: Any, obj: Any = None) -> None:
    """403 unless ``user`` is a grid worker (in the object's grid, on their own patrol)."""
    if not is_worker(user, obj):
        raise PermissionDenied(NOT_YOURS)


def is_supervisor(user: Any, obj: Any = None) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.has_perm("fieldwork.browse", obj))


def require_supervisor(user: Any, obj: Any = None) -> None:
    """403 unless ``user`` supervises field work (in the object's territory)."""
    if not is_supervisor(user, obj):
        raise PermissionDenied(NOT_YOURS)


def require_part(user: Any) -> None:
    """403 unless ``user`` is a grid worker or a supervisor somewhere (the pages that list
    field work; what they list is filtered by scope)."""
    if not (is_worker(user) or is_supervisor(user)):
        raise PermissionDenied(NOT_YOURS)

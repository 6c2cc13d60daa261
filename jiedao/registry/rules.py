"""Who may do what with the population registry; every list is still filtered by scope."""

from typing import Any

import rules
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.predicates import role_in_territory
from jiedao.accounts.roles import (
    REGISTRY_EDITORS,
    REGISTRY_IMPORTERS,
    REGISTRY_READERS,
    REGISTRY_REVEALERS,
)
from jiedao.core.permissions import require_perm

rules.add_perm("registry.browse", role_in_territory(*REGISTRY_READERS))
rules.add_perm("registry.change_person", role_in_territory(*REGISTRY_EDITORS))
# Unmask an identity number, phone or address: asks for a reason, written to the audit trail.
rules.add_perm("registry.reveal", role_in_territory(*REGISTRY_REVEALERS))
rules.add_perm("registry.import", role_in_territory(*REGISTRY_IMPORTERS))
# Door-to-door verification and visits: the grid worker and the workstation.
rules.add_perm("registry.verify", role_in_territory(*REGISTRY_EDITORS))


def require_registry_perm(user: Any, perm: str, obj: Any = None) -> None:
    require_perm(user, perm, obj, _("The population registry does not allow this for your role."))

"""Who may read and maintain the party organisation; every page is still filtered by scope.

The role sets live here, not in accounts/roles.py, so the party app keeps its own rules."""

import rules

from jiedao.accounts.predicates import role_in_territory
from jiedao.accounts.roles import Role

# Staff of the territory read its party tree; residents and district departments do not.
PARTY_READERS = frozenset(
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
# Party affairs are kept by the community (committee and workstation) and the street office.
PARTY_EDITORS = frozenset(
    {
        Role.WORKSTATION_STAFF,
        Role.COMMITTEE_MEMBER,
        Role.STREET_STAFF,
        Role.STREET_LEADER,
        Role.SYSTEM_ADMIN,
    }
)

rules.add_perm("party.browse", role_in_territory(*PARTY_READERS))
# Set up a sub-organisation (checked on the higher one), change an organisation, add, move or
# remove its members.
rules.add_perm("party.change", role_in_territory(*PARTY_EDITORS))

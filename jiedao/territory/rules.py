import rules

from jiedao.accounts.predicates import has_role, in_territory, is_staff_member
from jiedao.accounts.roles import TERRITORY_EDITORS

# Staff browse the territory pages (each list and detail is still filtered by scope).
rules.add_perm("territory.browse", is_staff_member)
# Editing buildings, dwellings, addresses and organisations: editors, inside their territory.
rules.add_perm("territory.change_record", has_role(*TERRITORY_EDITORS) & in_territory)

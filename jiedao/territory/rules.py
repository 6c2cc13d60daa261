import rules

from jiedao.accounts.predicates import is_staff_member, role_in_territory
from jiedao.accounts.roles import STRUCTURE_EDITORS, TERRITORY_EDITORS

# Staff browse the territory pages (each list and detail is still filtered by scope).
rules.add_perm("territory.browse", is_staff_member)
# Buildings, dwellings, addresses and organisations: editors, inside the grant that makes them one.
rules.add_perm("territory.change_record", role_in_territory(*TERRITORY_EDITORS))
# Grids: the street and above; communities, streets, districts: the district and above.
rules.add_perm("territory.change_grid", role_in_territory(*STRUCTURE_EDITORS["grid"]))
rules.add_perm("territory.change_community", role_in_territory(*STRUCTURE_EDITORS["community"]))
rules.add_perm("territory.change_street", role_in_territory(*STRUCTURE_EDITORS["street"]))
rules.add_perm("territory.change_district", role_in_territory(*STRUCTURE_EDITORS["district"]))

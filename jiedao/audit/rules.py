import rules

from jiedao.accounts.predicates import has_role
from jiedao.accounts.roles import AUDIT_READERS

rules.add_perm("audit.view_trail", has_role(*AUDIT_READERS))

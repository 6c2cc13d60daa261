"""The form-by-size rule (domain.md §6), as pure functions.

《中国共产党基层组织工作条例》: 3 or more full members → a party branch (支部); 50 or more
members → a general branch (总支) may be set up; 100 or more → a party committee (党委) may be
set up. What is counted (docs/party.md): the members whose organisation relation is in the
organisation or any organisation under it; members reporting under 双报到 are not counted. The
3-member floor counts full members only (正式党员), the 50 and 100 thresholds all members.

A street working committee (党工委) is set up by the district committee, not by size, and a
party group (党小组) is part of a branch: neither is checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from jiedao.party.models import Form

BRANCH_MINIMUM = 3
GENERAL_BRANCH_FROM = 50
COMMITTEE_FROM = 100
CHECKED_FORMS = frozenset({Form.BRANCH, Form.GENERAL_BRANCH, Form.COMMITTEE})

REGULATION = _("《中国共产党基层组织工作条例》")
RULE_BRANCH = _("3 or more full members → a party branch (支部)")
RULE_GENERAL_BRANCH = _("50 or more members → a general branch (总支) may be set up")
RULE_COMMITTEE = _("100 or more members → a party committee (党委) may be set up")


@dataclass(frozen=True)
class Flag:
    """One finding about an organisation's form. ``severity`` is "act" when the form is not
    allowed at this size, "suggest" when the rule allows a higher form, "review" when the form
    is above what the size provides for."""

    code: str
    severity: str
    message: Any
    clause: Any

    @property
    def citation(self) -> str:
        return _("%(regulation)s: %(clause)s") % {"regulation": REGULATION, "clause": self.clause}


def form_by_size(members: int, full_members: int | None = None) -> str:
    """The highest form the rule provides for at this size (fewer than 3 full members: a party
    group only, or a joint branch with a neighbouring organisation)."""
    full = members if full_members is None else full_members
    _check_counts(members, full)
    if full < BRANCH_MINIMUM:
        return Form.GROUP
    if members >= COMMITTEE_FROM:
        return Form.COMMITTEE
    if members >= GENERAL_BRANCH_FROM:
        return Form.GENERAL_BRANCH
    return Form.BRANCH


def size_flags(form: str, members: int, full_members: int | None = None) -> list[Flag]:
    """What the rule says about an organisation of ``form`` with this many counted members."""
    full = members if full_members is None else full_members
    _check_counts(members, full)
    if form not in CHECKED_FORMS:
        return []
    if full < BRANCH_MINIMUM:
        return [TOO_FEW]
    flags = []
    if members >= COMMITTEE_FROM and form != Form.COMMITTEE:
        flags.append(MAY_FORM_COMMITTEE)
    elif members >= GENERAL_BRANCH_FROM and form == Form.BRANCH:
        flags.append(MAY_FORM_GENERAL_BRANCH)
    if form == Form.COMMITTEE and members < COMMITTEE_FROM:
        flags.append(COMMITTEE_BELOW)
    if form == Form.GENERAL_BRANCH and members < GENERAL_BRANCH_FROM:
        flags.append(GENERAL_BRANCH_BELOW)
    return flags


def _check_counts(members: int, full: int) -> None:
    if members < 0 or full < 0 or full > members:
        raise ValueError("counts must be non-negative and full members at most all members")


TOO_FEW = Flag(
    "too_few_for_branch",
    "act",
    _(
        "Fewer than 3 full members: too few for a branch of its own. Make it a party group "
        "(党小组) of a neighbouring branch or form a joint branch (联合党支部)."
    ),
    RULE_BRANCH,
)
MAY_FORM_GENERAL_BRANCH = Flag(
    "may_form_general_branch",
    "suggest",
    _("50 or more members: a general branch (党总支) may be set up."),
    RULE_GENERAL_BRANCH,
)
MAY_FORM_COMMITTEE = Flag(
    "may_form_committee",
    "suggest",
    _("100 or more members: a party committee (党委) may be set up."),
    RULE_COMMITTEE,
)
GENERAL_BRANCH_BELOW = Flag(
    "general_branch_below_50",
    "review",
    _("Fewer than 50 members: the rule provides for a general branch from 50 members."),
    RULE_GENERAL_BRANCH,
)
COMMITTEE_BELOW = Flag(
    "committee_below_100",
    "review",
    _("Fewer than 100 members: the rule provides for a party committee from 100 members."),
    RULE_COMMITTEE,
)

"""What each kind of notification says. Sentences are looked up when shown, so a notification
stored once reads in Chinese to one user and in English to another.

Params hold plain values: ``case`` (number), ``category`` and ``department`` (names, kept as
they were then), ``handler`` (a name), ``reason`` (text), ``main`` (a case number) and ``due``
(an ISO time, shown in local time). A missing value shows as "…" instead of failing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from jiedao.workdays.display import deadline_text

logger = logging.getLogger("jiedao.notify")

KINDS: dict[str, Any] = {
    # To the people acting for the handler.
    "case_assigned": _(
        "Case #%(case)s (%(category)s) was sent to you for handling: acknowledge it by %(due)s."
    ),
    "extension_approved": _("The extension for case #%(case)s (%(category)s) was approved."),
    "extension_denied": _(
        "The extension for case #%(case)s (%(category)s) was denied: keep to its deadline."
    ),
    # To the street leaders (approvers).
    "extension_requested": _(
        "An extension is requested for case #%(case)s (%(category)s): approve or deny it."
    ),
    "case_reopened": _(
        "Case #%(case)s (%(category)s) was reopened because the caller is dissatisfied."
    ),
    "case_reopened_dispatch": _(
        "Case #%(case)s (%(category)s) was reopened because the caller is dissatisfied: "
        "dispatch it again."
    ),
    # To the grid workers of the case's grid.
    "case_to_verify": _("Case #%(case)s (%(category)s) is reported handled: verify it on site."),
    "case_to_call_back": _(
        "Case #%(case)s (%(category)s) is closed: call the caller back and record their rating."
    ),
    # To the street leaders (from the sweeper).
    "case_unacknowledged": _(
        "Case #%(case)s (%(category)s) was not acknowledged by %(handler)s by %(due)s."
    ),
    "case_overdue": _(
        "Case #%(case)s (%(category)s) is past its deadline (%(due)s) and not handled yet "
        "(handler: %(handler)s)."
    ),
    # To the caller (in-app and SMS).
    "caller_submit": _("We received your report #%(case)s (%(category)s)."),
    "caller_register": _(
        "Your report #%(case)s (%(category)s) was registered and is due to be resolved by %(due)s."
    ),
    "caller_reject": _("Your report #%(case)s (%(category)s) was not registered: %(reason)s"),
    "caller_close": _(
        "Your report #%(case)s (%(category)s) is closed. We may call you to ask whether you are "
        "satisfied."
    ),
    "caller_reopen": _("Your report #%(case)s (%(category)s) was reopened and is handled again."),
    "caller_close_with": _(
        "Your report #%(case)s was handled together with report #%(main)s, which is now closed."
    ),
    # 吹哨报到.
    "summons_new": _(
        "%(department)s is summoned (吹哨) to case #%(case)s (%(category)s): report (报到) by "
        "%(due)s."
    ),
    "summons_reported": _("%(department)s reported (报到) to case #%(case)s."),
    "summons_part": _("%(department)s recorded its part in case #%(case)s."),
    "summons_report_late": _("%(department)s did not report (报到) to case #%(case)s by %(due)s."),
    "summons_part_late": _("%(department)s did not record its part in case #%(case)s by %(due)s."),
}


def render(kind: str, params: dict[str, Any]) -> str:
    """The sentence of ``kind`` with ``params``, in the active language."""
    sentence = KINDS.get(kind)
    if sentence is None:
        logger.warning("notification of unknown kind %r", kind)
        return str(_("Notification"))
    values: defaultdict[str, Any] = defaultdict(lambda: "…")
    values.update({key: _display(key, value) for key, value in (params or {}).items()})
    return str(sentence) % values


def _display(key: str, value: Any) -> Any:
    if key == "due" and isinstance(value, str):
        if not value:
            return "…"
        moment = parse_datetime(value)
        if moment is not None:
            return deadline_text(moment)
    return value


def due_param(moment: Any) -> str:
    """A time as stored in params (ISO, with its offset)."""
    return moment.isoformat() if moment is not None else ""

"""The server's side of the phone's outbox (frontend/src/outbox.js): a form marked
``data-outbox`` is sent with ``fetch``; when the network fails it is kept on the phone (IndexedDB)
with the page's idempotency key and sent again later, only for the user who filled it in."""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def outbox_settings(user: Any) -> str:
    """The ``data-outbox`` attribute of a form that survives a flaky network: whose form it is
    (a form is only ever resent for the same user) and the outbox's texts in the page's
    language."""
    texts = {
        "waiting_one": ngettext(
            "%(n)s form is kept on this phone, waiting to be sent.",
            "%(n)s forms are kept on this phone, waiting to be sent.",
            1,
        ),
        "waiting_other": ngettext(
            "%(n)s form is kept on this phone, waiting to be sent.",
            "%(n)s forms are kept on this phone, waiting to be sent.",
            2,
        ),
        "offline": _(
            "No network: the form is kept on this phone and will be sent when the network is back."
        ),
        "sending": _("Sending…"),
        "sent": _("A form kept on this phone has been sent."),
        "refused": _("The server did not accept a form kept on this phone: open it to correct it."),
        "open": _("Open"),
        "discard": _("Discard"),
        "discard_confirm": _("Discard this form for good? What you entered will be lost."),
        "send_now": _("Send now"),
        "sign_in": _("Sign in again to send the forms kept on this phone."),
        "other_user": _(
            "Forms of another user are kept on this phone: they are sent when that user signs in."
        ),
    }
    return json.dumps(
        {"owner": getattr(user, "pk", None), "whoami": reverse("fieldwork:whoami"), "texts": texts},
        ensure_ascii=False,
    )

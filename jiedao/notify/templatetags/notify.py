"""``{% notification_badge %}`` for the top bar and ``|case_url`` for notification links."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from jiedao.notify.selectors import unread_count

register = template.Library()


@register.filter
def case_url(case_id: int | None) -> str:
    """The case page, or "#" while the cases pages do not exist (or there is no case)."""
    if not case_id:
        return "#"
    try:
        return reverse("cases:detail", args=[case_id])
    except NoReverseMatch:
        return "#"


@register.inclusion_tag("notify/_badge_slot.html", takes_context=True)
def notification_badge(context: dict[str, Any]) -> dict[str, Any]:
    user = context.get("user")
    return {"user": user, "unread": unread_count(user) if user is not None else 0}

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import ngettext

from jiedao.cases.workflow import event_label as label_of
from jiedao.core.fields import mask
from jiedao.workdays.display import deadline_text

register = template.Library()


@register.filter
def event_label(action: str) -> str:
    return label_of(action)


@register.filter
def masked(value: str | None, kind: str) -> str:
    """Personal data as shown by default (domain.md §10): ``{{ case.caller_name|masked:"name" }}``."""
    return mask(kind, value)


@register.filter
def deadline(moment: datetime | None) -> str:
    """A deadline as domain.md counts it: the end of a day is 24:00 of that day."""
    return deadline_text(moment)


@register.filter
def time_left(moment: datetime | None) -> str:
    """How long until (or since) ``moment`` in minutes, hours or days: never months, which
    read as calendar months in Chinese."""
    if moment is None:
        return ""
    seconds = (moment - timezone.now()).total_seconds()
    span = abs(seconds)
    if span < 3600:
        amount, unit = max(1, round(span / 60)), "minutes"
    elif span < 48 * 3600:
        amount, unit = round(span / 3600), "hours"
    else:
        amount, unit = round(span / 86400), "days"
    texts = {
        ("minutes", True): ngettext("in %(n)d minute", "in %(n)d minutes", amount),
        ("minutes", False): ngettext("%(n)d minute ago", "%(n)d minutes ago", amount),
        ("hours", True): ngettext("in %(n)d hour", "in %(n)d hours", amount),
        ("hours", False): ngettext("%(n)d hour ago", "%(n)d hours ago", amount),
        ("days", True): ngettext("in %(n)d day", "in %(n)d days", amount),
        ("days", False): ngettext("%(n)d day ago", "%(n)d days ago", amount),
    }
    return texts[(unit, seconds >= 0)] % {"n": amount}

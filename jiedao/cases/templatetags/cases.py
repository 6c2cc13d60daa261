from django import template

from jiedao.cases.workflow import event_label as label_of

register = template.Library()


@register.filter
def event_label(action: str) -> str:
    return label_of(action)

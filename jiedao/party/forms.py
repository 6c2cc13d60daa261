"""Forms of the party pages. Choices come from the view (what the user may pick in their
territory); validation of the organisation itself lives in the model and services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from jiedao.party.models import LEVEL_FORMS, Form, PartyMember, PartyOrganisation


def _form_choices(level: str) -> list[tuple[str, Any]]:
    return [(value, Form(value).label) for value in LEVEL_FORMS[level]]


def _choice_field(form: forms.Form, name: str) -> forms.ChoiceField:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return field


class DateInput(forms.DateInput):
    input_type = "date"


class OrganisationFields(forms.Form):
    form = forms.ChoiceField(label=_("Form"))
    name = forms.CharField(
        label=_("Name"),
        max_length=120,
        required=False,
        help_text=_("Leave empty for the usual name: the node's name and the form."),
    )
    secretary = forms.CharField(label=_("Secretary"), max_length=40, required=False)
    founded_on = forms.DateField(label=_("Founded on"), required=False, widget=DateInput)

    def __init__(self, *args: Any, level: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choice_field(self, "form").choices = _form_choices(level)


class OrganisationCreateForm(OrganisationFields):
    node = forms.ChoiceField(label=_("Territory"))
    field_order = ["node", "form", "name", "secretary", "founded_on"]

    def __init__(self, *args: Any, nodes: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nodes = {str(node.pk): node for node in nodes}
        _choice_field(self, "node").choices = [(key, str(node)) for key, node in self.nodes.items()]

    def clean_node(self) -> Any:
        return self.nodes[self.cleaned_data["node"]]


class OrganisationEditForm(OrganisationFields):
    def __init__(self, *args: Any, organisation: PartyOrganisation, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "form": organisation.form,
                "name": organisation.name,
                "secretary": organisation.secretary,
                "founded_on": organisation.founded_on,
            },
        )
        super().__init__(*args, level=organisation.level, **kwargs)
        self.fields["name"].required = True
        self.fields["name"].help_text = ""


class MemberAddForm(forms.Form):
    person: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Person"), queryset=None, widget=forms.RadioSelect, empty_label=None
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=PartyMember.Kind.choices, initial=PartyMember.Kind.RESIDENT
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=PartyMember.Status.choices, initial=PartyMember.Status.FULL
    )
    joined_on = forms.DateField(label=_("Joined the Party on"), required=False, widget=DateInput)

    def __init__(self, *args: Any, candidates: Any, shown: list[Any], **kwargs: Any) -> None:
        """``candidates``: every person who may be picked; ``shown``: (person, label) of the
        few listed now."""
        super().__init__(*args, **kwargs)
        field = self.fields["person"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = candidates
        field.choices = [(person.pk, label) for person, label in shown]


class MemberMoveForm(forms.Form):
    target: forms.ModelChoiceField = forms.ModelChoiceField(label=_("Move to"), queryset=None)

    def __init__(self, *args: Any, targets: list[PartyOrganisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["target"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = PartyOrganisation.all_objects.filter(pk__in=[t.pk for t in targets])
        field.choices = [("", "---------")] + [(t.pk, str(t)) for t in targets]


class MemberRemoveForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("For example: relation transferred out, moved away, died."),
    )

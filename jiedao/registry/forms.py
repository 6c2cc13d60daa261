"""Forms of the person pages. They parse and offer choices inside the actor's territory; the
rules (identity number, phone, uniqueness, versions) live in services.save_person."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from jiedao.core.views_base import parse_id
from jiedao.registry import selectors
from jiedao.registry.models import CareGroup, Household, Person, Residence
from jiedao.registry.services import masked
from jiedao.territory.models import Building, Community, Dwelling, Grid

MAX_REASON = 200


class GridChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.community.name} · {obj.name}"


class DwellingChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return dwelling_label(obj)


def dwelling_label(dwelling: Dwelling) -> str:
    return str(_("Entrance %(entrance)s, room %(room)s")) % {
        "entrance": dwelling.entrance.number,
        "room": dwelling.room,
    }


class PersonFilterForm(forms.Form):
    """The person list's filters (GET). Choices are the actor's communities and grids."""

    q = forms.CharField(label=_("Search"), required=False, max_length=60)
    community = forms.ModelChoiceField(
        label=_("Community"),
        queryset=Community.all_objects.none(),
        required=False,
        empty_label=_("All"),
    )
    grid = GridChoiceField(
        label=_("Grid"), queryset=Grid.all_objects.none(), required=False, empty_label=_("All")
    )
    residence = forms.ChoiceField(
        label=_("人户分离 status"), choices=[("", _("All")), *Residence.choices], required=False
    )
    care_group = forms.ChoiceField(
        label=_("Care group"), choices=[("", _("All")), *CareGroup.choices], required=False
    )
    age_band = forms.ChoiceField(
        label=_("Age"),
        choices=[("", _("All")), *selectors.AGE_BAND_LABELS.items()],
        required=False,
    )
    sex = forms.ChoiceField(
        label=_("Sex"), choices=[("", _("All")), *Person.Sex.choices], required=False
    )

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["community"].queryset = selectors.communities(actor)  # type: ignore[attr-defined]
        self.fields["grid"].queryset = selectors.grids(actor)  # type: ignore[attr-defined]
        self.fields["q"].widget.attrs.update(
            placeholder=_("Name, pinyin initials, identity number or phone"),
            autocomplete="off",
        )

    def filters(self) -> selectors.PersonFilters:
        """The filters to apply; call after is_valid() (an invalid form filters nothing in)."""
        data = self.cleaned_data
        return selectors.PersonFilters(
            q=data.get("q") or "",
            community=data["community"].pk if data.get("community") else None,
            grid=data["grid"].pk if data.get("grid") else None,
            residence=data.get("residence") or "",
            care_group=data.get("care_group") or "",
            age_band=data.get("age_band") or "",
            sex=data.get("sex") or "",
        )


class UnmaskedExportForm(forms.Form):
    """Plaintext export: ticked on purpose, with a reason for the audit trail."""

    unmasked = forms.BooleanField(
        label=_("Export identity numbers, phones and addresses unmasked"), required=True
    )
    reason = forms.CharField(
        label=_("Why do you need them unmasked?"),
        min_length=4,
        max_length=MAX_REASON,
        help_text=_("Written to the audit trail with the number of rows and the filters."),
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if len(reason) < 4:
            raise forms.ValidationError(_("Say why you need it (at least 4 characters)."))
        return reason


class RevealForm(forms.Form):
    reason = forms.CharField(
        label=_("Why do you need to see it?"),
        max_length=MAX_REASON,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class PersonForm(forms.Form):
    """The field form (mobile first): a grid worker on a phone, or office staff.

    Identity number and phone are never pre-filled (showing them would be an unaudited
    reveal): an empty input keeps the stored value, a typed one replaces it."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label=_("Full name"), max_length=40)
    identity_number = forms.CharField(
        label=_("Identity number"),
        max_length=32,
        required=False,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    sex = forms.ChoiceField(
        label=_("Sex"), choices=[("", "—"), *Person.Sex.choices], required=False
    )
    birth_date = forms.DateField(
        label=_("Date of birth"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "1960-05-01", "inputmode": "numeric"}),
        help_text=_("Not needed when the identity number is given: it is read from it."),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    relation = forms.ChoiceField(
        label=_("Relation to the head"),
        choices=[("", "—"), *Person.Relation.choices],
        required=False,
    )
    building = forms.ModelChoiceField(
        label=_("Building"),
        queryset=Building.all_objects.none(),
        required=False,
        empty_label=_("(does not live here)"),
    )
    dwelling = DwellingChoiceField(
        label=_("Room"),
        queryset=Dwelling.all_objects.none(),
        required=False,
        empty_label="—",
    )
    household = forms.ModelChoiceField(
        label=_("Household"),
        queryset=Household.all_objects.none(),
        required=False,
        empty_label=_("(none)"),
    )

    def __init__(
        self,
        *args: Any,
        actor: Any,
        person: Person,
        identity_editable: bool,
        fixed_dwelling: Dwelling | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.person = person
        self.creating = person.pk is None
        self.fixed_dwelling = fixed_dwelling
        if not identity_editable:
            del self.fields["identity_number"]
        if not self.creating:
            del self.fields["sex"], self.fields["birth_date"]
        if fixed_dwelling is None:
            del self.fields["household"]
        self._place_fields(actor)
        self._sensitive_hints()

    def _place_fields(self, actor: Any) -> None:
        if self.fixed_dwelling is not None:
            # A new person in a given dwelling: its residing households, nothing else to choose.
            del self.fields["building"], self.fields["dwelling"]
            found = selectors.residing_households(self.fixed_dwelling)
            field = self.fields["household"]
            field.queryset = Household.all_objects.filter(pk__in=[h.pk for h in found])  # type: ignore[attr-defined]
            if len(found) == 1:
                field.initial = found[0].pk
            return
        self.fields["building"].queryset = selectors.editable_buildings(actor)  # type: ignore[attr-defined]
        dwellings = self.fields["dwelling"]
        dwellings.queryset = selectors.editable_dwellings(actor)  # type: ignore[attr-defined]
        # Offer only the rooms of the chosen building: a street has 15,000 dwellings.
        building = self._chosen_building()
        rooms = selectors.editable_dwellings(actor, building) if building else []
        dwellings.widget.choices = [("", "—"), *((d.pk, dwelling_label(d)) for d in rooms)]
        # With htmx, choosing a building loads its rooms; without, the form says to choose again.
        self.fields["building"].widget.attrs.update(
            {
                "hx-get": reverse("registry:person_dwelling_options"),
                "hx-target": f"#{self['dwelling'].auto_id}",
                "hx-trigger": "change",
            }
        )

    def _chosen_building(self) -> int | None:
        if self.is_bound:
            raw = self.data.get(self.add_prefix("building"), "")
            return parse_id(raw)
        dwelling = self.person.dwelling if not self.creating else None
        return dwelling.building_id if dwelling is not None else None

    def _sensitive_hints(self) -> None:
        for name in ("identity_number", "phone"):
            field = self.fields.get(name)
            now = masked(self.person, name) if not self.creating else ""
            if field is not None and now:
                field.help_text = _("Now: %(masked)s. Leave empty to keep it.") % {"masked": now}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        building, dwelling = data.get("building"), data.get("dwelling")
        if "building" in self.fields:
            if building is not None and dwelling is None:
                self.add_error("dwelling", _("Choose the room in this building."))
            elif (
                dwelling is not None
                and building is not None
                and dwelling.building_id != building.pk
            ):
                self.add_error("dwelling", _("Choose a room in the chosen building."))
            elif dwelling is None and not self.person.registered_dwelling_id:
                self.add_error(
                    "building",
                    _("Choose where the person lives: they are not registered here either."),
                )
        if self.creating and not data.get("identity_number"):
            for name in ("sex", "birth_date"):
                if name in self.fields and not data.get(name):
                    self.add_error(name, _("Needed when there is no identity number."))
        return data

    def values(self) -> dict[str, Any]:
        """Model values for services.save_person (only what the form may change)."""
        data = self.cleaned_data
        values: dict[str, Any] = {"name": data["name"].strip(), "relation": data["relation"]}
        for name in ("identity_number", "phone"):
            if (data.get(name) or "").strip():
                values[name] = data[name].strip()
        if self.creating:
            values.update(sex=data.get("sex") or "", birth_date=data.get("birth_date"))
        if self.fixed_dwelling is not None:
            values.update(dwelling=self.fixed_dwelling, household=data.get("household"))
        elif "dwelling" in self.fields:
            dwelling = data.get("dwelling")
            values["dwelling"] = dwelling
            if dwelling != self.person.dwelling or self.creating:
                # A move joins the residing household there when it is the only one.
                found = selectors.residing_households(dwelling)
                values["household"] = found[0] if len(found) == 1 else None
        return values

"""Forms of the case pages. Validation of the rules lives in the services; these only parse."""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from jiedao.cases.models import Category, Channel, HandlerType, Node, Rating
from jiedao.core.scopes import code_within, unscoped
from jiedao.territory.models import Department, StandardAddress

MAX_DESCRIPTION = 2000


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos in one input; the attachments service checks what they are."""

    widget = MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"})

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(PhotosField, self).clean(f, initial) for f in files]


class CategoryChoiceField(forms.ModelChoiceField):
    """Active 小类, labelled with their 大类."""

    def __init__(self, **kwargs: Any) -> None:
        rows = Category.objects.filter(active=True, parent__isnull=False).select_related("parent")
        super().__init__(queryset=rows.order_by("code"), label=_("What is it about?"), **kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.parent.name} · {obj.name}"


def building_addresses(prefixes: list[str]) -> QuerySet[StandardAddress]:
    """Building-level standard addresses under the given territory codes (public structure)."""
    with unscoped():
        rows = StandardAddress.objects.filter(entrance_no="", room_no="").order_by("full_text")
    if not prefixes:
        return rows.none()
    return rows.filter(reduce(operator.or_, (code_within("territory_code", p) for p in prefixes)))


class LocationMixin(forms.Form):
    lng = forms.FloatField(required=False, widget=forms.HiddenInput)
    lat = forms.FloatField(required=False, widget=forms.HiddenInput)
    crs = forms.ChoiceField(
        choices=[("wgs84", "WGS-84"), ("gcj02", "GCJ-02"), ("bd09", "BD-09")],
        initial="wgs84",
        required=False,
        widget=forms.HiddenInput,
    )
    address = forms.ModelChoiceField(
        queryset=StandardAddress.all_objects.none(),
        required=False,
        label=_("Or choose the address"),
        empty_label=_("(located on the map)"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        has_point = data.get("lng") is not None and data.get("lat") is not None
        if not has_point and not data.get("address"):
            raise forms.ValidationError(
                _("Mark the place on the map, use your location, or choose the address.")
            )
        return data


class ReportForm(LocationMixin):
    """A resident's report (mobile first)."""

    category = CategoryChoiceField()
    description = forms.CharField(
        label=_("What is the problem?"),
        max_length=MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    photos = PhotosField(label=_("Photos (up to 9)"), required=False)
    caller_name = forms.CharField(label=_("Your name"), max_length=60, required=False)
    caller_phone = forms.CharField(label=_("Phone for the callback"), max_length=32, required=False)
    anonymous = forms.BooleanField(
        label=_("Report anonymously (your contact is kept private either way)"), required=False
    )

    field_order = ["category", "description", "address", "photos", "caller_name", "caller_phone"]

    def __init__(self, *args: Any, address_prefixes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["address"].queryset = building_addresses(address_prefixes)  # type: ignore[attr-defined]


class HotlineForm(LocationMixin):
    """The operator's fast entry: phone first, then what and where."""

    caller_phone = forms.CharField(
        label=_("Caller's phone"),
        max_length=32,
        widget=forms.TextInput(attrs={"autofocus": True, "inputmode": "tel"}),
    )
    caller_name = forms.CharField(label=_("Caller's name"), max_length=60, required=False)
    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=[
            (Channel.HOTLINE, Channel.HOTLINE.label),
            (Channel.SERVICE_CENTRE, Channel.SERVICE_CENTRE.label),
        ],
    )
    category = CategoryChoiceField()
    description = forms.CharField(
        label=_("What is the problem?"),
        max_length=MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    urgent = forms.BooleanField(label=_("Urgent"), required=False)
    anonymous = forms.BooleanField(label=_("The caller asks to stay anonymous"), required=False)
    register_now = forms.BooleanField(
        label=_("Register at once (立案)"), required=False, initial=True
    )

    field_order = ["caller_phone", "caller_name", "channel", "category", "description", "address"]

    def __init__(self, *args: Any, address_prefixes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["address"].queryset = building_addresses(address_prefixes)  # type: ignore[attr-defined]
        self.fields["address"].label = _("Address")
        self.fields["address"].empty_label = "—"  # type: ignore[attr-defined]


class PatrolForm(forms.Form):
    """A grid worker's finding on patrol: the phone's GPS puts it on the map."""

    category = CategoryChoiceField()
    description = forms.CharField(
        label=_("What did you find?"),
        max_length=MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    lng = forms.FloatField(widget=forms.HiddenInput)
    lat = forms.FloatField(widget=forms.HiddenInput)
    crs = forms.CharField(required=False, initial="wgs84", widget=forms.HiddenInput)
    urgent = forms.BooleanField(label=_("Urgent"), required=False)
    photos = PhotosField(label=_("Photos (up to 9)"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "lng" in self.errors or "lat" in self.errors:
            self.errors.pop("lng", None)
            self.errors.pop("lat", None)
            raise forms.ValidationError(_("Use your location or mark the place on the map."))
        return data


class ActionForm(forms.Form):
    """One step of the workflow on the case page; the service decides whether it is allowed."""

    action = forms.CharField(widget=forms.HiddenInput)
    expected_node = forms.ChoiceField(choices=Node.choices, widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    rating = forms.ChoiceField(
        label=_("Caller's rating"), choices=[("", "—"), *Rating.choices], required=False
    )
    solved = forms.TypedChoiceField(
        label=_("Does the caller say the problem is solved?"),
        choices=[("", "—"), ("1", _("Yes")), ("0", _("No"))],
        coerce=lambda v: v == "1",
        empty_value=None,
        required=False,
    )
    handler_type = forms.ChoiceField(
        label=_("Send to"),
        choices=[("", _("As the routing table says")), *HandlerType.choices],
        required=False,
    )
    department = forms.ModelChoiceField(
        label=_("Department"), queryset=Department.all_objects.none(), required=False
    )
    photos = PhotosField(label=_("Photos"), required=False)

    def __init__(self, *args: Any, departments: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if departments is not None:
            self.fields["department"].queryset = departments  # type: ignore[attr-defined]

    def transition_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        extra: dict[str, Any] = {}
        if data.get("rating"):
            extra["rating"] = data["rating"]
        if data.get("solved") is not None:
            extra["solved"] = data["solved"]
        if data.get("handler_type"):
            extra["handler_type"] = data["handler_type"]
        if data.get("department"):
            extra["department"] = data["department"]
        return extra


class SummonsForm(forms.Form):
    departments = forms.ModelMultipleChoiceField(
        label=_("Departments to summon"),
        queryset=Department.all_objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    reason = forms.CharField(
        label=_("Why are they needed?"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    report_hours = forms.FloatField(
        label=_("Report (报到) within hours"), min_value=0.25, max_value=240, required=False
    )

    def __init__(self, *args: Any, departments: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if departments is not None:
            self.fields["departments"].queryset = departments  # type: ignore[attr-defined]


class PartForm(forms.Form):
    part = forms.CharField(
        label=_("What did the department do?"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class DeskFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    category = forms.ModelChoiceField(
        label=_("Main category"),
        queryset=Category.objects.filter(parent__isnull=True),
        required=False,
        empty_label=_("All"),
    )
    community = forms.CharField(label=_("Community code"), required=False, max_length=24)
    urgent = forms.BooleanField(label=_("Urgent only"), required=False)

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from jiedao.workdays.importer import MAX_YEAR, MIN_YEAR
from jiedao.workdays.models import DayKind


class DayForm(forms.Form):
    date = forms.DateField(
        label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=DayKind.choices, widget=forms.RadioSelect)
    name = forms.CharField(
        label=_("Name"),
        max_length=60,
        required=False,
        help_text=_("For example 春节 or 国庆节调休."),
    )

    def clean_date(self):
        value = self.cleaned_data["date"]
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            raise forms.ValidationError(_("Choose a date between 2000 and 2100."))
        return value


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("File (CSV or XLSX)"),
        help_text=_(
            "Columns: date, kind (holiday or workday), name. CSV may be UTF-8 or GBK. "
            "You will see what the file would change before anything is saved."
        ),
    )

"""Field-work forms: thin, the services check the rest."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from jiedao.fieldwork.services import MAX_NOTE


class KeyedForm(forms.Form):
    """A form the phone may send again: ``key`` makes a resend count once; ``queued_at`` is the
    phone's time when the worker tapped "send" (added by the outbox)."""

    key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    queued_at = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)


class EndForm(KeyedForm):
    note = forms.CharField(
        label=_("What did you see? (optional)"),
        required=False,
        max_length=MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class VisitForm(KeyedForm):
    household = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    note = forms.CharField(
        label=_("Notes from the visit"),
        max_length=MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class PatrolFilterForm(forms.Form):
    worker = forms.TypedChoiceField(label=_("Grid worker"), required=False, coerce=int)
    grid = forms.ChoiceField(label=_("Grid"), required=False)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, workers: Any, grids: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["worker"].choices = [  # type: ignore[attr-defined]
            ("", _("All grid workers")),
            *[(w.pk, str(w)) for w in workers],
        ]
        self.fields["grid"].choices = [  # type: ignore[attr-defined]
            ("", _("All grids")),
            *[(g.code, g.name) for g in grids],
        ]


class MonthField(forms.Field):
    """``YYYY-MM`` (what ``<input type="month">`` sends) as the month's first day."""

    widget = forms.TextInput(attrs={"type": "month", "pattern": r"\d{4}-\d{2}"})

    def to_python(self, value: Any) -> date | None:
        text = str(value or "").strip()[:10]
        if not text:
            return None
        try:
            year, month = (int(part) for part in text.split("-"))
            if not 2000 <= year <= 2100:
                raise ValueError(text)
            return date(year, month, 1)
        except ValueError as exc:
            raise forms.ValidationError(_("Choose a month (year and month).")) from exc


class MonthForm(forms.Form):
    month = MonthField(label=_("Month"), required=False)

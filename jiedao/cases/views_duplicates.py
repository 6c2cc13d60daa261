"""Possible duplicates of a case, and merging it into one of them (domain.md §3).

GET ``/cases/<pk>/duplicates/`` is an htmx partial for the case page (and a plain page when
opened directly); POST ``/cases/<pk>/merge/`` runs the ``merge`` transition, which decides who
may merge and into what. Cases are reached only through ``selectors.cases(user)``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from jiedao.cases import selectors
from jiedao.cases.duplicates import RADIUS_M, WINDOW, candidates
from jiedao.cases.models import Case, Node
from jiedao.cases.services import TransitionConflict, transition
from jiedao.cases.workflow import TABLE, Action, may_act


class MergeForm(forms.Form):
    into = forms.IntegerField(label=gettext_lazy("Case to merge into"), min_value=1)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=1000)
    # The node the dispatcher saw: if the case moved on since, the merge is refused.
    expected_node = forms.ChoiceField(choices=Node.choices, required=False)


def _visible_case(request: HttpRequest, pk: int) -> Case:
    try:
        return selectors.case(request.user, pk)
    except Case.DoesNotExist as exc:
        raise Http404(_("No such case.")) from exc


def may_merge(user: Any, case: Case) -> bool:
    step = TABLE.get((case.node, Action.MERGE))
    return step is not None and may_act(user, case, step)


@login_required
@require_GET
def duplicates(request: HttpRequest, pk: int) -> HttpResponse:
    case = _visible_case(request, pk)
    if not selectors.is_staff_viewer(request.user):
        raise PermissionDenied(_("Only staff compare cases."))
    context = {
        "case": case,
        "candidates": candidates(case, among=selectors.cases(request.user)),
        "may_merge": may_merge(request.user, case),
        "radius_m": int(RADIUS_M),
        "window_hours": int(WINDOW.total_seconds() // 3600),
    }
    htmx = request.htmx  # type: ignore[attr-defined]
    partial = bool(htmx) and not htmx.history_restore_request
    template = "cases/duplicates/_candidates.html" if partial else "cases/duplicates/page.html"
    return render(request, template, context)


@login_required
@require_POST
def merge(request: HttpRequest, pk: int) -> HttpResponse:
    case = _visible_case(request, pk)
    back = HttpResponseRedirect(reverse("cases:duplicates", args=[case.pk]))
    form = MergeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the case to merge this one into."))
        return back
    # The target too must be a case this user may see; otherwise it is as if it did not exist.
    target = selectors.cases(request.user).filter(pk=form.cleaned_data["into"]).first()
    if target is None:
        messages.error(request, _("Choose the case to merge this one into."))
        return back
    try:
        transition(
            request.user,
            case,
            Action.MERGE,
            form.cleaned_data["note"].strip(),
            into=target,
            expected_node=form.cleaned_data["expected_node"] or case.node,
        )
    except (TransitionConflict, ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
        return back
    messages.success(
        request,
        _("Case #%(case)s is merged into case #%(into)s and is answered when that case closes.")
        % {"case": case.pk, "into": target.pk},
    )
    # Resolved at request time: the case page's route belongs to another part of the app.
    return HttpResponseRedirect(reverse("cases:detail", args=[case.pk]))


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, PermissionDenied) and not str(exc):
        return _("You may not do this on this case: it is outside your role or territory.")
    return str(exc)


urlpatterns: list[URLPattern] = [
    path("<int:pk>/duplicates/", duplicates, name="duplicates"),
    path("<int:pk>/merge/", merge, name="merge"),
]

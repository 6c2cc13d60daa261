"""Registry pages: import of the public-security extract and the door-to-door survey
(docs/registry-import.md). Upload → column mapping → dry run (progress, report) → confirm →
import (progress, resume after a failure). Only importers see these pages, and only the jobs of
territories where they may import (another street's job is a 404)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from jiedao.core.export import audited_xlsx
from jiedao.core.scopes import unscoped
from jiedao.core.selectors import visible
from jiedao.registry import importing
from jiedao.registry.models import ImportJob

RUNNING = (ImportJob.State.CHECKING, ImportJob.State.IMPORTING)
ERRORS_PER_PAGE = 50
ERROR_COLUMNS = [
    ("row", gettext_lazy("Row")),
    ("column", gettext_lazy("Column")),
    ("reason", gettext_lazy("Problem")),
]


class UploadForm(forms.Form):
    source = forms.ChoiceField(
        label=gettext_lazy("What is the file?"),
        choices=ImportJob.Source.choices,
        widget=forms.RadioSelect,
    )
    territory = forms.ChoiceField(label=gettext_lazy("Import into"))
    file = forms.FileField(
        label=gettext_lazy("File (CSV or XLSX)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,.txt"}),
    )

    def __init__(self, *args: Any, nodes: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        territory = self.fields["territory"]
        assert isinstance(territory, forms.ChoiceField)
        territory.choices = [(node.code, _node_label(node)) for node in nodes]
        self.fields["file"].help_text = _(
            "The first row holds the column names. UTF-8 or GBK; at most %(limit)s."
        ) % {"limit": filesizeformat(importing.max_upload_bytes())}


def _node_label(node: Any) -> str:
    """Streets with their code, their communities indented below them."""
    return f"{node.name} ({node.code})" if node.level == "street" else f"— {node.name}"


class MappingForm(forms.Form):
    """One choice of column per field of the job's source; required fields must be chosen."""

    def __init__(self, *args: Any, job: ImportJob, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.job = job
        columns = [("", _("— not in the file —"))] + [
            (str(index), f"{importing.column_label(job.headers, index)}")
            for index in range(len(job.headers))
        ]
        for item in importing.fields_for(job.source):
            initial = job.mapping.get(item.key)
            self.fields[item.key] = forms.ChoiceField(
                label=item.label,
                choices=columns,
                required=job.source in item.required,
                initial="" if initial is None else str(initial),
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            data["mapping"] = importing.clean_mapping(data, self.job.headers, self.job.source)
        except ValidationError as error:
            for message in error.messages:
                self.add_error(None, message)
        return data


def _require_importer(request: HttpRequest) -> None:
    if not request.user.has_perm("registry.import"):
        raise PermissionDenied(_("Importing the population registry is not part of your role."))


def _jobs(request: HttpRequest) -> Any:
    return visible(ImportJob, request.user, scope=importing.importer_scope(request.user))


def _job(request: HttpRequest, pk: int) -> ImportJob:
    _require_importer(request)
    job = _jobs(request).filter(pk=pk).select_related("created_by").first()
    if job is None or not request.user.has_perm("registry.import", job):
        raise Http404(_("No such import."))
    return job


def _territory_names(request: HttpRequest) -> dict[str, str]:
    with unscoped():
        return {node.code: node.name for node in importing.importer_nodes(request.user)}


@login_required
def import_list(request: HttpRequest) -> HttpResponse:
    _require_importer(request)
    page = Paginator(_jobs(request).select_related("created_by"), 50).get_page(
        request.GET.get("page")
    )
    names = _territory_names(request)
    for job in page.object_list:
        job.territory_name = names.get(job.territory_code, job.territory_code)
        job.percent = _percent(job)
    return render(request, "registry/import_list.html", {"page_obj": page})


def _percent(job: ImportJob) -> int:
    if job.state == ImportJob.State.DONE:
        return 100
    if not job.total_rows:
        return 0
    return min(100, job.processed_rows * 100 // job.total_rows)


@login_required
def import_new(request: HttpRequest) -> HttpResponse:
    _require_importer(request)
    with unscoped():
        nodes = importing.importer_nodes(request.user)
    form = UploadForm(request.POST or None, request.FILES or None, nodes=nodes)
    if request.method == "POST" and form.is_valid():
        try:
            job = importing.create_import(
                request.user,
                form.cleaned_data["file"],
                form.cleaned_data["source"],
                form.cleaned_data["territory"],
            )
        except ValidationError as error:
            form.add_error("file", error)
        else:
            _warn_if_imported_before(request, job)
            return redirect("registry:import_detail", pk=job.pk)
    return render(request, "registry/import_new.html", {"form": form})


def _warn_if_imported_before(request: HttpRequest, job: ImportJob) -> None:
    earlier = importing.earlier_imports(job)
    if earlier:
        messages.warning(
            request,
            _(
                "This very file was already imported into this territory on %(date)s (import "
                "%(number)d). Importing it again changes nothing."
            )
            % {
                "date": earlier[0].finished_at.strftime("%Y-%m-%d")
                if earlier[0].finished_at
                else "",
                "number": earlier[0].pk,
            },
        )


@login_required
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    mapping_form = None
    if job.state in (ImportJob.State.UPLOADED, ImportJob.State.CHECKED):
        mapping_form = MappingForm(job=job)
    return render(
        request, "registry/import_detail.html", _detail_context(request, job, mapping_form)
    )


def _detail_context(request: HttpRequest, job: ImportJob, mapping_form: Any) -> dict[str, Any]:
    errors = Paginator(job.row_errors.all(), ERRORS_PER_PAGE).get_page(request.GET.get("page"))
    return {
        "job": job,
        "territory_name": _territory_names(request).get(job.territory_code, job.territory_code),
        "mapping_form": mapping_form,
        "running": job.state in RUNNING,
        "percent": _percent(job),
        "page_obj": errors,
        "skipped": importing.skipped_rows(job),
        "cancellable": importing.cancellable(job),
        "earlier": importing.earlier_imports(job),
        "checked": job.state in (ImportJob.State.CHECKED, ImportJob.State.CHECKING),
    }


@login_required
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled by htmx every second; when the run is over, the whole page
    reloads to show the report."""
    job = _job(request, pk)
    response = render(
        request,
        "registry/import_progress.html",
        {"job": job, "running": job.state in RUNNING, "percent": _percent(job)},
    )
    if job.state not in RUNNING and request.htmx:  # type: ignore[attr-defined]
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def import_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    form = MappingForm(request.POST, job=job)
    if not form.is_valid():
        return render(
            request, "registry/import_detail.html", _detail_context(request, job, form), status=400
        )
    try:
        importing.start_check(
            request.user, job, form.cleaned_data["mapping"], translation.get_language() or ""
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("registry:import_detail", pk=job.pk)


def _act(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    job = _job(request, pk)
    try:
        action(job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    return redirect("registry:import_detail", pk=job.pk)


@login_required
@require_POST
def import_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    language = translation.get_language() or ""
    return _act(
        request,
        pk,
        lambda job: importing.confirm_import(request.user, job, language),
        _("The import has started."),
    )


@login_required
@require_POST
def import_resume(request: HttpRequest, pk: int) -> HttpResponse:
    language = translation.get_language() or ""
    return _act(
        request,
        pk,
        lambda job: importing.resume_import(request.user, job, language),
        _("The import continues from its last checkpoint."),
    )


@login_required
@require_POST
def import_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda job: importing.cancel_import(request.user, job),
        _("The import was cancelled; the file is deleted."),
    )


@login_required
def import_errors(request: HttpRequest, pk: int) -> HttpResponse:
    """Every problem of the job as a workbook (row, column, problem)."""
    job = _job(request, pk)
    return audited_xlsx(request, f"import-{job.pk}-problems", ERROR_COLUMNS, job.row_errors.all())


urlpatterns: list[URLPattern] = [
    path("imports/", import_list, name="import_list"),
    path("imports/new/", import_new, name="import_new"),
    path("imports/<int:pk>/", import_detail, name="import_detail"),
    path("imports/<int:pk>/progress/", import_progress, name="import_progress"),
    path("imports/<int:pk>/mapping/", import_mapping, name="import_mapping"),
    path("imports/<int:pk>/confirm/", import_confirm, name="import_confirm"),
    path("imports/<int:pk>/resume/", import_resume, name="import_resume"),
    path("imports/<int:pk>/cancel/", import_cancel, name="import_cancel"),
    path("imports/<int:pk>/problems.xlsx", import_errors, name="import_errors"),
]

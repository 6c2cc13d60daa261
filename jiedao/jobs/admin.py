"""Read-only admin pages: periodic job runs (with a summary of every registered periodic job)
and workers. Task results themselves are django-tasks-db's own admin (filter by status)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import BooleanField, ExpressionWrapper, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from jiedao.jobs import selectors
from jiedao.jobs.models import PeriodicRun, WorkerHeartbeat
from jiedao.jobs.recovery import alive


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def task_results_url(**filters: str) -> str:
    try:
        url = reverse("admin:django_tasks_database_dbtaskresult_changelist")
    except NoReverseMatch:
        return ""
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return f"{url}?{query}" if query else url


@admin.register(PeriodicRun)
class PeriodicRunAdmin(ReadOnlyAdmin):
    list_display = ("name", "slot_start", "status", "missed_slots", "claimed_by")
    list_filter = ("name",)
    date_hierarchy = "slot_start"
    list_per_page = 50

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None:
            context.update(self.summary_context())
        return response

    def summary_context(self) -> dict[str, Any]:
        database = selectors.uses_database_backend()
        return {
            "periodic_rows": selectors.periodic_overview(),
            "live_workers": selectors.live_workers(),
            "uses_database_backend": database,
            "failed_total": sum(selectors.failed_counts().values()) if database else None,
            "failed_url": task_results_url(status__exact="FAILED") if database else "",
            "workers_url": reverse("admin:jobs_workerheartbeat_changelist"),
        }

    @admin.display(description=_("status"))
    def status(self, obj: PeriodicRun) -> str:
        # One small query a row; the page holds at most list_per_page rows.
        statuses = selectors.result_statuses([obj.task_result_id])
        return selectors.status_label(statuses.get(obj.task_result_id))


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("worker_id", "kind", "hostname", "pid", "started_at", "last_seen_at", "state")
    list_filter = ("kind",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkerHeartbeat]:
        # Judged by the database's clock, like recovery judges it (not the web host's).
        is_alive = ExpressionWrapper(alive(), output_field=BooleanField())
        return super().get_queryset(request).annotate(is_alive=is_alive)

    @admin.display(description=_("state"))
    def state(self, obj: WorkerHeartbeat) -> str:
        if obj.stopped_at is not None:
            return str(_("stopped"))
        if getattr(obj, "is_alive", False):
            return str(_("alive"))
        return str(_("not responding"))

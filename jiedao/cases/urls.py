"""Case pages. Each part of the cases app keeps its own routes next to its views."""

from django.urls import URLPattern

from jiedao.cases import (
    views,
    views_attachments,
    views_catalogue,
    views_duplicates,
    views_metrics,
)

app_name = "cases"
urlpatterns: list[URLPattern] = [
    *views.urlpatterns,
    *views_attachments.urlpatterns,
    *views_catalogue.urlpatterns,
    *views_duplicates.urlpatterns,
    *views_metrics.urlpatterns,
]

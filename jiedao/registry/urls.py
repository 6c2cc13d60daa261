"""Population registry pages. Each part keeps its own routes next to its views."""

from django.urls import URLPattern

from jiedao.registry import views_care, views_import, views_people, views_reconciliation

app_name = "registry"
urlpatterns: list[URLPattern] = [
    *views_people.urlpatterns,
    *views_import.urlpatterns,
    *views_reconciliation.urlpatterns,
    *views_care.urlpatterns,
]

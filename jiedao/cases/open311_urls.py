"""Open311 GeoReport v2 at /open311/v2/ (filled in by the Open311 work)."""

from django.urls import URLPattern

app_name = "open311"
urlpatterns: list[URLPattern] = []

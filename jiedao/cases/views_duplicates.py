"""(Filled in by the cases work; see docs/cases.md.)"""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []

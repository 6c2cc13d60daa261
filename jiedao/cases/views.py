"""Case pages: desk, inboxes, to-do, case detail with its actions, resident pages."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []

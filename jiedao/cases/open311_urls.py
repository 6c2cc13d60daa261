"""Open311 GeoReport v2 at /open311/v2/ (see jiedao/cases/open311.py and docs/open311.md).

The format is the suffix of every resource (``services.xml``, ``requests/42.json``); a service
code may itself hold dots, so the last dot starts the format."""

from django.urls import URLPattern, re_path

from jiedao.cases import open311

app_name = "open311"
urlpatterns: list[URLPattern] = [
    re_path(r"^discovery\.(?P<fmt>\w+)$", open311.discovery, name="discovery"),
    re_path(r"^services\.(?P<fmt>\w+)$", open311.services, name="services"),
    re_path(
        r"^services/(?P<service_code>[^/]+)\.(?P<fmt>\w+)$",
        open311.service_definition,
        name="service_definition",
    ),
    re_path(r"^requests\.(?P<fmt>\w+)$", open311.service_requests, name="requests"),
    re_path(
        r"^requests/(?P<service_request_id>[^/]+)\.(?P<fmt>\w+)$",
        open311.service_request,
        name="request",
    ),
    re_path(r"^(?P<path>.*)$", open311.not_found, name="not_found"),
]

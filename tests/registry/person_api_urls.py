"""The project's URLs plus /api/persons, for as long as jiedao.core.api.register_routers() does
not mount the persons router itself (test_person_api uses the real mount once it does)."""

from django.urls import path
from ninja import NinjaAPI

from jiedao.config.urls import urlpatterns as project_urlpatterns
from jiedao.core.api import api as project_api
from jiedao.registry.api import router

persons_api = NinjaAPI(
    title="jiedao API (persons, tests)",
    auth=project_api.auth,
    urls_namespace="persons_api_tests",
    docs_url=None,
    openapi_url=None,
)
# The same error answers as the project's API ({"code", "message"}, 403/404/422).
persons_api._exception_handlers.update(project_api._exception_handlers)
persons_api.add_router("/persons", router)

urlpatterns = [path("api/", persons_api.urls), *project_urlpatterns]

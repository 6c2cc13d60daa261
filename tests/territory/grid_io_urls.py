"""The project's URLs with the grid-import pages wired as the lead will wire them (before
``grids/<code>/``), so these tests run before jiedao/territory/urls.py includes them."""

from django.urls import URLResolver, include, path

from jiedao.config import urls as project
from jiedao.territory import urls as territory_urls
from jiedao.territory import views_grid_io

_wired = "grid_import" in {getattr(p, "name", None) for p in territory_urls.urlpatterns}
_territory = list(territory_urls.urlpatterns)
if not _wired:
    _territory = [*views_grid_io.urlpatterns, *_territory]

urlpatterns = [
    path("territory/", include((_territory, "territory"))),
    *[
        p
        for p in project.urlpatterns
        if not (isinstance(p, URLResolver) and p.namespace == "territory")
    ],
]

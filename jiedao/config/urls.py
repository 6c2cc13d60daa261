from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from jiedao.core.api import api, register_routers

register_routers()

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("jiedao.core.urls")),
    path("accounts/", include("jiedao.accounts.urls")),
    path("territory/", include("jiedao.territory.urls")),
    path("workdays/", include("jiedao.workdays.urls")),
    path("audit/", include("jiedao.audit.urls")),
    path("cases/", include("jiedao.cases.urls")),
    path("registry/", include("jiedao.registry.urls")),
    path("party/", include("jiedao.party.urls")),
    path("fieldwork/", include("jiedao.fieldwork.urls")),
    path("notifications/", include("jiedao.notify.urls")),
    path("open311/v2/", include("jiedao.cases.open311_urls")),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

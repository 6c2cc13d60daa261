from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from jiedao.core import views

app_name = "core"
urlpatterns = [
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("", views.index, name="index"),
    path("home/", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("ping", views.ping, name="ping"),
    path("elder-mode/", views.toggle_elder_mode, name="elder_mode"),
]

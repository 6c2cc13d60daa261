from django.urls import path

from jiedao.fieldwork import views

app_name = "fieldwork"
urlpatterns = [
    path("today/", views.today, name="today"),
    path("whoami/", views.whoami, name="whoami"),
    path("patrols/", views.patrol_list, name="patrol_list"),
    path("patrols/start/", views.patrol_start, name="patrol_start"),
    path("patrols/<int:pk>/", views.patrol_detail, name="patrol_detail"),
    path("patrols/<int:pk>/end/", views.patrol_end, name="patrol_end"),
    path("patrols/<int:pk>/close/", views.patrol_close, name="patrol_close"),
    path("patrols/<int:pk>/track/", views.track_upload, name="track_upload"),
    path("visit/", views.visit, name="visit"),
    path("attendance/", views.attendance, name="attendance"),
]

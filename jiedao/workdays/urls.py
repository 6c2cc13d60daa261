from django.urls import path

from jiedao.workdays import views

app_name = "workdays"
urlpatterns = [
    path("", views.index, name="index"),
    path("<str:code>/<int:year>/", views.year_view, name="year"),
    path("<str:code>/add/", views.add_day, name="add_day"),
    path("<str:code>/import/", views.import_days, name="import"),
    path("<str:code>/days/<int:pk>/delete/", views.remove_day, name="remove_day"),
]

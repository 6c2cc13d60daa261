"""Party organisation pages."""

from django.urls import URLPattern, path

from jiedao.party import views

app_name = "party"
urlpatterns: list[URLPattern] = [
    path("", views.tree_view, name="tree"),
    path("export/", views.export_view, name="export"),
    path("<int:pk>/", views.organisation_view, name="organisation"),
    path("<int:pk>/edit/", views.organisation_edit_view, name="organisation_edit"),
    path("<int:pk>/add/", views.organisation_add_view, name="organisation_add"),
    path("<int:pk>/members/add/", views.member_add_view, name="member_add"),
    path("members/<int:pk>/", views.member_view, name="member"),
    path("members/<int:pk>/move/", views.member_move_view, name="member_move"),
    path("members/<int:pk>/remove/", views.member_remove_view, name="member_remove"),
]

from django.urls import path

from jiedao.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login, name="login"),
    path("login/code/", views.login_totp, name="login_totp"),
    path("logout/", views.logout, name="logout"),
    path("security/", views.security, name="security"),
]

from django.urls import path

from jiedao.audit import views

app_name = "audit"
urlpatterns = [path("", views.AuditList.as_view(), name="list")]

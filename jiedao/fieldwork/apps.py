from django.apps import AppConfig


class FieldworkConfig(AppConfig):
    name = "jiedao.fieldwork"
    label = "fieldwork"
    default_auto_field = "django.db.models.BigAutoField"

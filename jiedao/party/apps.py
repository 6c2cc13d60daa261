from django.apps import AppConfig


class PartyConfig(AppConfig):
    name = "jiedao.party"
    label = "party"
    default_auto_field = "django.db.models.BigAutoField"

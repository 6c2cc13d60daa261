from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotifyConfig(AppConfig):
    name = "jiedao.notify"
    verbose_name = _("Notifications")
    default_auto_field = "django.db.models.BigAutoField"

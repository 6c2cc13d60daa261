from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "jiedao.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jiedao.accounts import signals  # noqa: F401 - connects the receivers

from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "jiedao.cases"
    label = "cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jiedao.cases import signals  # noqa: F401  (connects the grid-index invalidation)

from django.apps import AppConfig


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = "Triggers"

    def ready(self) -> None:
        from triggers import lookup  # noqa: F401 (connects the cache invalidation signals)

from django.apps import AppConfig


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = "Triggers"

    def ready(self) -> None:
        from triggers import checks, lookup  # noqa: F401 (the deploy checks; the cache invalidation signals)

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def install_rollup_triggers(sender: AppConfig, using: str, **kwargs) -> None:
    """(Re)create the stats rollup's triggers after every `migrate` (and `flush`).

    SQLite alters a table by copying it into a new one, which leaves the
    triggers behind; creating them again after each migrate keeps them on
    whatever table a migration left (the copy itself counts nothing twice).
    After a `flush`, which may empty the rollup before the rows it counts, an
    empty database gets an empty rollup again.
    """
    from triggers.stats import rollup

    rollup.install(connections[using])
    if using == "default":
        rollup.clear_if_nothing_counted()


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = "Triggers"

    def ready(self) -> None:
        from triggers import checks  # noqa: F401 (the deploy checks)
        from triggers.receive import lookup  # noqa: F401 (the cache invalidation signals)

        post_migrate.connect(install_rollup_triggers, sender=self)

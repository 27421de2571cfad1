"""The floor: one row per request under a partial unique index, as the webhook's own table has."""

from django.db import models
from django.db.models import Q


class BareEvent(models.Model):
    key = models.CharField(max_length=255, null=True)  # noqa: DJ001 (mirrors the nullable key)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "baseline"
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(key__isnull=False), name="bare_event_unique_key"
            )
        ]

    def __str__(self) -> str:
        return self.key or "-"


class WorkEvent(models.Model):
    """The necessary-work floor's event: its body, under a unique key per trigger."""

    trigger_id = models.IntegerField()
    key = models.CharField(max_length=255, null=True)  # noqa: DJ001 (mirrors the nullable key)
    payload = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        app_label = "baseline"
        constraints = [
            models.UniqueConstraint(
                fields=["trigger_id", "key"], condition=Q(key__isnull=False), name="work_event_unique_key"
            )
        ]

    def __str__(self) -> str:
        return self.key or "-"


class WorkTask(models.Model):
    """The floor's task row: what a worker picks up for the event."""

    event_id = models.BigIntegerField()
    enqueued_at = models.DateTimeField()

    class Meta:
        app_label = "baseline"

    def __str__(self) -> str:
        return f"task for {self.event_id}"


class WorkCounter(models.Model):
    """The floor's counters: per trigger and hour, sharded by database backend, new and duplicate."""

    trigger_id = models.IntegerField()
    hour = models.DateTimeField()
    shard = models.SmallIntegerField()
    accepted = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)

    class Meta:
        app_label = "baseline"
        constraints = [
            models.UniqueConstraint(fields=["trigger_id", "hour", "shard"], name="work_counter_unique_hour")
        ]

    def __str__(self) -> str:
        return f"{self.trigger_id} {self.hour:%Y-%m-%d %H}:00/{self.shard}"

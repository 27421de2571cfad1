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

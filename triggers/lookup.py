"""Find a trigger by its webhook id without a query on every request.

Each process keeps a trigger for `TRIGGER_CACHE_SECONDS` (default 5); saving
or deleting a trigger drops it at once in this process, and everywhere when
the cache is shared (REDIS_URL). Unknown ids are never cached, so random ids
cannot fill the cache.
"""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from triggers.models import Trigger


def _cache_key(public_id: uuid.UUID) -> str:
    return f"evonexus:trigger:{public_id}"


def get_trigger(public_id: str) -> Trigger | None:
    """Return the trigger with this webhook id, or `None` (also for a malformed id)."""
    try:
        parsed = uuid.UUID(public_id)
    except ValueError:
        return None
    trigger = cache.get(_cache_key(parsed))
    if trigger is None:
        trigger = Trigger.objects.filter(public_id=parsed).first()
        if trigger is not None and settings.TRIGGER_CACHE_SECONDS:
            cache.set(_cache_key(parsed), trigger, settings.TRIGGER_CACHE_SECONDS)
    return trigger


@receiver([post_save, post_delete], sender=Trigger)
def forget_trigger(sender, instance: Trigger, **kwargs) -> None:
    cache.delete(_cache_key(instance.public_id))

"""Find a trigger by its webhook id without a query on every request.

Each process keeps the triggers it looked up in its own memory for at most
`TRIGGER_CACHE_SECONDS` (default 5; 0 turns the cache off). Secrets never
leave the process: the shared cache (Redis, when `REDIS_URL` is set) holds
only a version token per trigger, which every change replaces (a save, a
delete, a queryset `update()` or `bulk_update()`), once when it happens and
again when its transaction commits. A process whose copy carries another token
reads the trigger again, so with `REDIS_URL` a change reaches every process at
its next request; without it, the changing process at once and the others
within `TRIGGER_CACHE_SECONDS`. Unknown ids are never cached, so random ids
cannot fill the cache.
"""

import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from triggers.models import Trigger, triggers_updated

# public_id -> (trigger, the version token it was read under, when it was read)
_copies: dict[uuid.UUID, tuple[Trigger, str | None, float]] = {}


def _version_key(public_id: uuid.UUID) -> str:
    return f"evonexus:trigger-version:{public_id}"


def get_trigger(public_id: str) -> Trigger | None:
    """Return the trigger with this webhook id, or `None` (also for a malformed id)."""
    try:
        parsed = uuid.UUID(public_id)
    except ValueError:
        return None
    max_age = settings.TRIGGER_CACHE_SECONDS
    if not max_age:
        return Trigger.objects.filter(public_id=parsed).first()
    # Read the version before the row: a change in between leaves a copy tagged
    # with the older token, which the next request then reads again.
    version = cache.get(_version_key(parsed))
    now = time.monotonic()
    copy = _copies.get(parsed)
    if copy is not None and copy[1] == version and now - copy[2] < max_age:
        return copy[0]
    trigger = Trigger.objects.filter(public_id=parsed).first()
    if trigger is None:
        _copies.pop(parsed, None)
    else:
        _copies[parsed] = (trigger, version, now)
    return trigger


def forget_trigger(public_id: uuid.UUID) -> None:
    """Make every process read this trigger again: now, and once its transaction commits."""

    def new_version() -> None:
        _copies.pop(public_id, None)
        cache.set(_version_key(public_id), uuid.uuid4().hex, timeout=None)

    new_version()
    transaction.on_commit(new_version)


@receiver([post_save, post_delete], sender=Trigger)
def forget_saved_trigger(sender, instance: Trigger, **kwargs) -> None:
    forget_trigger(instance.public_id)


@receiver(triggers_updated)
def forget_updated_triggers(sender, public_ids: list[uuid.UUID], **kwargs) -> None:
    for public_id in public_ids:
        forget_trigger(public_id)

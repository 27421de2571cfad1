"""Automatic redelivery: when a transient failure is tried again, if the trigger asks for it."""

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings


def redelivery_delay(
    redeliveries_done: int, *, jitter: Callable[[float, float], float] = random.uniform
) -> timedelta:
    """Return the wait before the next automatic redelivery.

    The n-th redelivery waits the n-th entry of `AUTO_REDELIVERY_SCHEDULE`
    (the last entry repeats), give or take `AUTO_REDELIVERY_JITTER` (20 %)
    so that a burst of failures does not come back as a burst.
    """
    schedule = settings.AUTO_REDELIVERY_SCHEDULE
    base = schedule[min(redeliveries_done, len(schedule) - 1)]
    spread = settings.AUTO_REDELIVERY_JITTER
    return timedelta(seconds=base * (1 + jitter(-spread, spread)))


def next_redelivery_at(redeliveries_done: int, allowed: int, now: datetime) -> datetime | None:
    """Return when to redeliver after a transient failure, or `None` when none are left."""
    if redeliveries_done >= allowed:
        return None
    return now + redelivery_delay(redeliveries_done)

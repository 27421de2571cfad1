"""Record an incoming event exactly once: the dedup write path."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from triggers.executor import enqueue_execution
from triggers.models import (
    IDEMPOTENCY_CONSTRAINT,
    ExecutionEvent,
    ExecutionStatus,
    Trigger,
    TriggerExecution,
)


@dataclass(frozen=True)
class Recorded:
    """What recording an event did: `accepted` a new execution or found a `duplicate`."""

    outcome: str
    execution_id: int
    raced: bool = False


def is_idempotency_conflict(exc: IntegrityError) -> bool:
    """Return whether `exc` is the dedup constraint firing (and not any other integrity error)."""
    diag = getattr(exc.__cause__, "diag", None)
    if diag is not None:  # PostgreSQL names the constraint
        return diag.constraint_name == IDEMPOTENCY_CONSTRAINT
    message = str(exc)  # SQLite names the columns
    return "UNIQUE constraint failed" in message and ".idempotency_key" in message


def find_key_holder(trigger_id: int, key: str) -> int | None:
    """Return the id of the live (not replayed) execution holding `key`, if any."""
    return (
        TriggerExecution.objects.filter(trigger_id=trigger_id, idempotency_key=key)
        .exclude(status=ExecutionStatus.REPLAYED)
        .values_list("pk", flat=True)
        .first()
    )


def count_duplicate(execution_id: int) -> None:
    """Count one absorbed duplicate delivery against the execution holding the key.

    The count on the execution is for display; the event row says when it
    arrived, so stats over a time window are exact.
    """
    with transaction.atomic():
        TriggerExecution.objects.filter(pk=execution_id).update(duplicate_count=F("duplicate_count") + 1)
        ExecutionEvent.objects.create(
            execution_id=execution_id, kind=ExecutionEvent.Kind.DUPLICATE, at=timezone.now()
        )


def record_event(trigger: Trigger, event_data: dict, key: str | None) -> Recorded:
    """Return the new pending execution for the event, or the one already holding its key.

    The unique constraint decides, not the lookup: when two copies race past
    the lookup, the loser's INSERT fails on the constraint only, and it is
    answered as a duplicate of the winner. Any other integrity error is
    raised. An event without a key is never deduplicated.
    """
    if key is not None and (holder := find_key_holder(trigger.pk, key)) is not None:
        count_duplicate(holder)
        return Recorded("duplicate", holder)
    for _ in range(3):  # a holder can vanish between conflict and lookup; retry then
        try:
            with transaction.atomic():
                execution = TriggerExecution.objects.create(
                    trigger=trigger, event_data=event_data, idempotency_key=key
                )
                enqueue_execution(execution.pk)
            return Recorded("accepted", execution.pk)
        except IntegrityError as exc:
            if key is None or not is_idempotency_conflict(exc):
                raise
        holder = find_key_holder(trigger.pk, key)
        if holder is not None:
            count_duplicate(holder)
            return Recorded("duplicate", holder, raced=True)
    raise RuntimeError(f"could not record event with key {key!r} for trigger {trigger.pk}")

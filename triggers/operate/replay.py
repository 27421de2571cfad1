"""Replaying a failed execution: the one set of rules the admin, the API and the command share.

A replay moves the original to `replayed` and creates one new `pending`
execution that takes the idempotency key over (the unique constraint ignores
replayed rows). A conditional UPDATE makes that happen once however many
operators click at the same time.
"""

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from evonexus.logs import log_event
from triggers.execute.executor import enqueue_execution
from triggers.models import LOST_WORKER_ERROR, TriggerExecution
from triggers.operate.preview import preview

logger = logging.getLogger("evonexus.replay")

NOT_FOUND = "not_found"
NOT_REPLAYABLE = "not_replayable"
RATE_LIMITED = "rate_limited"
TRIGGER_DISABLED = "trigger_disabled"
ALREADY_DELIVERED = "already_delivered"
WILL_NOT_RENDER = "will_not_render"


@dataclass(frozen=True)
class ReplayRefusal:
    """Why an execution cannot be replayed now."""

    reason: str
    current_status: str | None = None
    retry_after_seconds: int | None = None
    detail: str = ""

    def describe(self) -> str:
        """Return the refusal as a sentence for people."""
        if self.reason == NOT_REPLAYABLE:
            return f"not replayable: it is {self.current_status}"
        if self.reason == RATE_LIMITED:
            return f"rate-limited: replayed less than a minute ago, try in {self.retry_after_seconds} s"
        if self.reason == TRIGGER_DISABLED:
            return "its trigger is disabled"
        if self.reason == WILL_NOT_RENDER:
            return self.detail
        if self.reason == ALREADY_DELIVERED:
            return "WhatsApp delivered its message already (forcing a replay needs its own permission)"
        return "not found"


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of one replay: the new execution, or the refusal."""

    original_id: int
    new_execution_id: int | None = None
    refusal: ReplayRefusal | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None


def chain_filter(execution: TriggerExecution) -> Q:
    """Return the filter for the execution's replay chain: its first execution and every replay of it."""
    root_id = execution.replay_root_id or execution.pk
    return Q(pk=root_id) | Q(replay_root_id=root_id)


def double_send_warning(execution: TriggerExecution) -> str | None:
    """Return why replaying `execution` may send a WhatsApp message twice, or `None`.

    A run whose worker was lost (the reaper's verdict) may have sent before it
    died; a run that recorded sent messages did send them.
    """
    if execution.error == LOST_WORKER_ERROR:
        return "its worker was lost mid-run: the action may have run, and a replay may send twice"
    if sent := execution.messages.count():
        return f"it sent {sent} WhatsApp message(s) already: a replay sends again"
    return None


def check_replayable(
    execution: TriggerExecution, *, now: datetime | None = None, force: bool = False
) -> ReplayRefusal | None:
    """Return why `execution` cannot be replayed now, or `None` if it can.

    Refused: a status other than `failed_retryable` or `failed`; a disabled
    trigger; any execution of the same event replayed less than
    `REPLAY_MIN_INTERVAL_SECONDS` ago (exactly that long ago is allowed); a
    message WhatsApp reported delivered, unless `force` (the caller checks the
    operator may force).
    """
    if not execution.replayable:
        return ReplayRefusal(NOT_REPLAYABLE, current_status=execution.status)
    if not force and execution.messages.filter(delivered_at__isnull=False).exists():
        return ReplayRefusal(ALREADY_DELIVERED)
    if error := preview(execution).error:
        return ReplayRefusal(WILL_NOT_RENDER, detail=error)
    if not execution.trigger.enabled:
        return ReplayRefusal(TRIGGER_DISABLED)
    last_replay = TriggerExecution.objects.filter(chain_filter(execution)).aggregate(
        last=Max("last_replay_at")
    )["last"]
    if last_replay is not None:
        interval = timedelta(seconds=settings.REPLAY_MIN_INTERVAL_SECONDS)
        wait = (last_replay + interval - (now or timezone.now())).total_seconds()
        if wait > 0:
            return ReplayRefusal(RATE_LIMITED, retry_after_seconds=math.ceil(wait))
    return None


def record_in_history(user_id: int, execution: TriggerExecution, message: str) -> None:
    """Add `message` to the execution's History in the admin, as done by user `user_id`."""
    LogEntry.objects.log_actions(user_id, [execution], CHANGE, message, single_object=True)


def replay_execution(
    execution_id: int,
    *,
    user: str = "-",
    user_id: int | None = None,
    now: datetime | None = None,
    force: bool = False,
) -> ReplayResult:
    """Return the result of replaying one execution.

    In one transaction: the original moves to `replayed` (only if it is still
    replayable; of concurrent replays exactly one wins) and a new pending
    execution with the same trigger, event and key, `replay_of` the original,
    is created with its task. `force` replays even a delivered message (see
    `check_replayable`). With `user_id` (the operator's account) the replay
    goes into both executions' History in the admin. `now` is for tests.
    """
    now = now or timezone.now()
    try:
        execution = TriggerExecution.objects.select_related("trigger").get(pk=execution_id)
    except TriggerExecution.DoesNotExist:
        return ReplayResult(execution_id, refusal=ReplayRefusal(NOT_FOUND))
    if refusal := check_replayable(execution, now=now, force=force):
        return ReplayResult(execution_id, refusal=refusal)
    with transaction.atomic():
        if not TriggerExecution.objects.mark_replayed(execution_id, now=now):
            # Another operator replayed it between our check and this UPDATE.
            current = (
                TriggerExecution.objects.filter(pk=execution_id).values_list("status", flat=True).first()
            )
            return ReplayResult(execution_id, refusal=ReplayRefusal(NOT_REPLAYABLE, current_status=current))
        replacement = TriggerExecution.objects.create(
            trigger_id=execution.trigger_id,
            event_data=execution.event_data,
            idempotency_key=execution.idempotency_key,
            replay_of=execution,
            replay_root_id=execution.replay_root_id or execution.pk,
        )
        enqueue_execution(replacement.pk)
        if user_id is not None:
            record_in_history(user_id, execution, f"Replayed as execution #{replacement.pk}.")
            record_in_history(user_id, replacement, f"Created as the replay of execution #{execution.pk}.")
    log_event(
        logger,
        "trigger_replay",
        original_exec=execution_id,
        new_exec=replacement.pk,
        trigger_id=execution.trigger_id,
        user=user,
    )
    return ReplayResult(execution_id, new_execution_id=replacement.pk)


def dead_letter_queue(*, trigger_slug: str | None = None, since: datetime | None = None):
    """Return the executions waiting in the dead-letter queue, oldest first."""
    queryset = TriggerExecution.objects.dead_letter()
    if trigger_slug:
        queryset = queryset.filter(trigger__slug=trigger_slug)
    if since:
        queryset = queryset.filter(created_at__gte=since)
    return queryset.select_related("trigger").order_by("created_at", "id")

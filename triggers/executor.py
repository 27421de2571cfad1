"""Run one execution: claim it, run its trigger's action, record the outcome."""

import logging
import time

from django.db.models import F
from django.utils import timezone

from evonexus.logs import log_event
from triggers import messaging
from triggers.actions import run_script
from triggers.models import ActionType, ErrorCategory, ExecutionStatus, TriggerExecution
from triggers.outcomes import ActionOutcome

logger = logging.getLogger("evonexus.executor")


def claim_execution(execution_id: int) -> bool:
    """Return whether this worker won `pending → running` for the execution.

    The conditional UPDATE is the lock: of any number of workers holding the
    same task, exactly one sees a row count of 1. `False` also covers an
    execution that no longer exists.
    """
    claimed = TriggerExecution.objects.filter(pk=execution_id, status=ExecutionStatus.PENDING).update(
        status=ExecutionStatus.RUNNING, started_at=timezone.now()
    )
    return claimed == 1


def run_action(execution: TriggerExecution) -> ActionOutcome:
    """Return the outcome of the execution's action; unexpected errors are `unknown`."""
    trigger, event, payload = execution.trigger, execution.event_data, execution.trigger.action_payload
    try:
        if trigger.action_type == ActionType.SCRIPT:
            outcome = run_script(payload, event, execution_id=execution.pk, trigger_slug=trigger.slug)
            if outcome.status == ExecutionStatus.COMPLETED and payload.get("reply_via_whatsapp"):
                return messaging.reply_with_output(
                    outcome.summary, trigger.recipient, event, execution_id=execution.pk
                )
            return outcome
        if trigger.action_type == ActionType.WHATSAPP:
            return messaging.send_event_message(
                payload["message"], trigger.recipient, event, execution_id=execution.pk
            )
        return ActionOutcome.permanent(f"unknown action type {trigger.action_type!r}")
    except Exception as exc:  # a bug or an environment problem: keep it replayable
        logger.exception("action crashed for execution %s", execution.pk)
        return ActionOutcome(
            ExecutionStatus.FAILED_RETRYABLE,
            ErrorCategory.UNKNOWN,
            error=f"action crashed: {type(exc).__name__}: {exc}",
        )


def execute(execution_id: int) -> str | None:
    """Return the final status after running the execution, or `None` if not claimed."""
    if not claim_execution(execution_id):
        # Another worker got there first, or the execution is no longer pending.
        log_event(logger, "execution_skipped", exec_id=execution_id, reason="not_pending")
        return None
    execution = TriggerExecution.objects.select_related("trigger").get(pk=execution_id)
    started = time.monotonic()
    outcome = run_action(execution)
    TriggerExecution.objects.filter(pk=execution_id, status=ExecutionStatus.RUNNING).update(
        status=outcome.status,
        error_category=outcome.category,
        attempts=F("attempts") + outcome.attempts,
        result_summary=outcome.summary,
        error=outcome.error,
        completed_at=timezone.now(),
        duration_seconds=round(time.monotonic() - started, 3),
    )
    log_event(
        logger,
        "execution_finished",
        level=logging.INFO if outcome.status == ExecutionStatus.COMPLETED else logging.WARNING,
        exec_id=execution_id,
        trigger_id=execution.trigger_id,
        status=outcome.status,
        category=outcome.category,
        attempts=outcome.attempts,
    )
    return outcome.status

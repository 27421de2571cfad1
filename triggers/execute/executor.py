"""Run one execution: claim it, run its trigger's action, record the outcome, schedule a redelivery.

`run_execution` is the background task (Django's Tasks API); everything that
queues an execution goes through `enqueue_execution`. The gateway breaker's
moves that queue work (releasing waiting executions, probing) are here too,
beside the queue; the breaker's state machine is `triggers/execute/breaker.py`.
"""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task
from django_tasks_db import DatabaseBackend

from evonexus.logs import log_event
from triggers.choices import ActionType, ErrorCategory, ExecutionStatus, HoldReason
from triggers.execute import breaker, messaging
from triggers.execute.demo import demo_refusal
from triggers.execute.redelivery import next_redelivery_at
from triggers.execute.scripts import run_script
from triggers.models import ExecutionEvent, TriggerExecution, WatermarkState
from triggers.outcomes import ActionOutcome
from triggers.stats.figures import check_watermark, daily_cap_room
from triggers.stats.metrics import CONNECTION_EVENTS
from whatsapp.media import with_media_url

logger = logging.getLogger("evonexus.executor")


def run_action(execution: TriggerExecution) -> ActionOutcome:
    """Return the outcome of the execution's action; unexpected errors are `unknown`.

    An action that sends WhatsApp while the gateway breaker holds sends back
    waits (`held`) before anything runs.
    """
    trigger, payload = execution.trigger, execution.trigger.action_payload
    if refusal := demo_refusal(trigger):
        return ActionOutcome.permanent(refusal, attempts=0)
    sends = trigger.sends_whatsapp
    if sends and not breaker.may_send(execution.pk):
        return ActionOutcome.held(HoldReason.GATEWAY_DOWN, "waiting for the WhatsApp gateway to come back")
    if sends and not execution.over_cap_allowed and not take_cap_slot(execution.pk):
        why = f"the WhatsApp daily cap ({settings.WHATSAPP_DAILY_CAP} in 24 h) is reached: waiting for room"
        return ActionOutcome.held(HoldReason.DAILY_CAP, why)
    try:
        event = with_media_url(execution.event_data)
        if trigger.action_type == ActionType.SCRIPT:
            outcome = run_script(payload, event, execution_id=execution.pk, trigger_slug=trigger.slug)
            if outcome.status == ExecutionStatus.COMPLETED and payload.get("reply_via_whatsapp"):
                output = outcome.summary
                return messaging.reply_with_output(output, trigger.recipient, event, execution=execution)
            return outcome
        if trigger.action_type == ActionType.WHATSAPP:
            return messaging.send_event_message(payload, trigger.recipient, event, execution=execution)
        return ActionOutcome.permanent(f"unknown action type {trigger.action_type!r}")
    except Exception as exc:  # a bug or an environment problem: keep it replayable
        logger.exception("action crashed for execution %s", execution.pk)
        return ActionOutcome.failure(ErrorCategory.UNKNOWN, f"action crashed: {type(exc).__name__}: {exc}")


def take_cap_slot(execution_id: int) -> bool:
    """Return whether the execution may send under the daily cap now (always, with no cap).

    The room left and the sends under way are counted and a slot taken in one
    short locked transaction (the watermark's row: both are about volume), so
    any number of workers together never send past the cap. The slot is given
    back when the execution finishes.
    """
    if not settings.WHATSAPP_DAILY_CAP:
        return True
    with transaction.atomic():
        WatermarkState.objects.get_or_create(pk=1)
        list(WatermarkState.objects.select_for_update().filter(pk=1).values_list("pk", flat=True))
        return TriggerExecution.objects.take_cap_slot(execution_id, room=daily_cap_room() or 0)


def execute(execution_id: int) -> str | None:
    """Return the final status after running the execution, or `None` if not claimed."""
    if not TriggerExecution.objects.claim(execution_id, now=timezone.now()):
        # Another worker got there first, or the execution is no longer pending.
        log_event(logger, "execution_skipped", exec_id=execution_id, reason="not_pending")
        return None
    execution = TriggerExecution.objects.select_related("trigger").get(pk=execution_id)
    started = time.monotonic()
    outcome = run_action(execution)
    now = timezone.now()
    redelivery_at = None
    if outcome.status == ExecutionStatus.FAILED_RETRYABLE:
        redelivery_at = next_redelivery_at(execution.redeliveries, execution.trigger.auto_redeliveries, now)
    with transaction.atomic():
        TriggerExecution.objects.finish(
            execution_id,
            outcome,
            now=now,
            duration_seconds=round(time.monotonic() - started, 3),
            redelivery_at=redelivery_at,
        )
        if redelivery_at is not None:
            # Not the dead-letter queue yet: the same execution runs again then.
            enqueue_execution(execution_id, run_after=redelivery_at)
            ExecutionEvent.objects.create(
                execution_id=execution_id, kind=ExecutionEvent.Kind.REDELIVERY, at=redelivery_at
            )
    if outcome.whatsapp_attempts:
        # Sends are where the volume watermark can flip: note it here, not on read paths.
        check_watermark(now=now)
        note_gateway(outcome, now=now)
    log_event(
        logger,
        "execution_finished",
        level=logging.INFO if outcome.status == ExecutionStatus.COMPLETED else logging.WARNING,
        exec_id=execution_id,
        trigger_id=execution.trigger_id,
        status=outcome.status,
        category=outcome.category,
        attempts=outcome.attempts,
        redelivery_at=redelivery_at,
    )
    return outcome.status


def note_gateway(outcome: ActionOutcome, *, now: datetime) -> None:
    """Tell the breaker what a send found, and queue what follows: a probe, or the releases."""
    if not breaker.enabled():
        return
    if outcome.not_connected:
        failures = outcome.whatsapp_attempts
        if (probe_at := breaker.note_not_connected(outcome.error, failures=failures, now=now)) is not None:
            probe_gateway.using(run_after=probe_at).enqueue()
    elif breaker.note_connected(now=now):
        release_waiting(now=now)


def release_waiting(*, now: datetime | None = None) -> list[int]:
    """Return the executions released from waiting for the gateway, oldest first, each queued once.

    Each release is a conditional UPDATE (held → pending) committed with its
    task, so a crash in the middle leaves the rest waiting for the next call,
    and concurrent callers never release one twice. They are spaced
    `GATEWAY_RELEASE_INTERVAL_SECONDS` apart: a pace the gateway takes.
    """
    now = now or timezone.now()
    released: list[int] = []
    spacing = settings.GATEWAY_RELEASE_INTERVAL_SECONDS
    for execution_id in breaker.waiting().values_list("pk", flat=True):
        # Every release names its time: the database queue runs due tasks by run_after.
        run_after = now + timedelta(seconds=spacing * len(released))
        if release(execution_id, run_after=run_after):
            released.append(execution_id)
    if released:
        log_event(logger, "gateway_waiting_released", count=len(released))
    return released


def release(
    execution_id: int,
    *,
    run_after: datetime | None = None,
    reason: str = HoldReason.GATEWAY_DOWN,
    over_cap: bool = False,
) -> bool:
    """Return whether this call released the execution held for `reason` (held → pending, queued).

    The conditional UPDATE makes it once, however many callers race; `over_cap`
    lets it send past the daily cap (an operator who may said so).
    """
    with transaction.atomic():
        won = TriggerExecution.objects.release(execution_id, reason=reason, over_cap=over_cap)
        if won:
            enqueue_execution(execution_id, run_after=run_after)
    return won


@dataclass(frozen=True)
class ReleasePlan:
    """What releasing held executions by hand would do: the daily cap's room, and how many pass it."""

    held: list[TriggerExecution]
    room: int | None  # None: no daily cap
    past_cap: int


def plan_release(executions: Iterable[TriggerExecution], *, now: datetime | None = None) -> ReleasePlan:
    """Return the plan for releasing the held ones of `executions`, in the order given.

    `past_cap` counts those held for the daily cap beyond its room now: releasing
    them sends past the cap, which only an operator with that permission may do.
    """
    held = [e for e in executions if e.status == ExecutionStatus.HELD]
    room = daily_cap_room(now=now)
    capped = sum(e.hold_reason == HoldReason.DAILY_CAP for e in held)
    return ReleasePlan(held, room, max(capped - room, 0) if room is not None else 0)


def release_planned(plan: ReleasePlan) -> list[TriggerExecution]:
    """Return the executions of `plan` this call released (each once, past the cap if it says so)."""
    over_cap = plan.past_cap > 0
    return [e for e in plan.held if release(e.pk, reason=e.hold_reason, over_cap=over_cap)]


def release_capped(*, now: datetime | None = None) -> list[int]:
    """Return the executions released because the rolling 24 hours have room again, oldest first.

    As many as there is room for; the cap off releases them all. The reaper's
    pass calls it, so they go without an operator.
    """
    room = daily_cap_room(now=now)
    capped = TriggerExecution.objects.held(HoldReason.DAILY_CAP)
    ids = list(capped.values_list("pk", flat=True)[: room if room is not None else None])
    return [pk for pk in ids if release(pk, reason=HoldReason.DAILY_CAP)]


def resume_sends(*, now: datetime | None = None) -> None:
    """Act on signs that the gateway is back (a probe, a `Connected` event): one trial send first."""
    if (trial := breaker.begin_trial(now=now)) is not None:
        release(trial)
    elif breaker.status().state == breaker.State.CLOSED:
        release_waiting(now=now)


def tick_gateway(*, now: datetime | None = None) -> None:
    """Do what a lost task would have: a due probe, deciding a finished trial, releasing waiting sends.

    The reaper's pass calls it, so the breaker moves on even when a probe's
    task or a trial's worker was lost.
    """
    now = now or timezone.now()
    state = breaker.status().state
    if state == breaker.State.OPEN:
        connected, _ = breaker.probe(now=now)
        if connected:
            resume_sends(now=now)
    elif state == breaker.State.HALF_OPEN:
        trial = breaker.trial_outcome()
        if trial == ExecutionStatus.COMPLETED:
            if breaker.note_connected(now=now):
                release_waiting(now=now)
        elif trial not in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.HELD):
            breaker.note_not_connected("the trial send did not complete", now=now)
    elif breaker.waiting().exists():
        release_waiting(now=now)


def note_connection_event(
    connection: str | None,
    *,
    account: str | None,
    ban_seconds: float | None = None,
    now: datetime | None = None,
) -> None:
    """Count and log a connection event; move the breaker if it comes from the instance we send through.

    `connection` is what the event says (`connected`, `disconnected`,
    `logged_out`, `banned`; `None`: nothing to act on), `account` the instance
    token it carries: any other token (another instance, the demo trigger's)
    moves nothing. Gone: the breaker opens at once and the probe it asks for
    is queued. Back (`connected`): a status probe is queued (rate-limited), and
    only its answer moves the breaker on.
    """
    ours = breaker.is_gateway_instance(account)
    CONNECTION_EVENTS.labels(str(connection), str(ours).lower()).inc()
    log_event(logger, "gateway_connection_event", connection=connection, trusted=ours)
    if connection is None or not ours or not breaker.enabled():
        return
    if connection == "connected":
        if breaker.claim_event_probe(now=now):
            confirm_connected.enqueue()
        return
    probe_at = breaker.connection_lost(
        connection, error=f"the instance reported {connection}", ban_seconds=ban_seconds, now=now
    )
    if probe_at is not None:
        probe_gateway.using(run_after=probe_at).enqueue()


@task()
def confirm_connected() -> bool:
    """Return whether the instance answered connected to the probe a `Connected` event asked for.

    Connected and logged in: a logged-out hold ends, and the breaker tries one
    send first as after any probe (a ban still in force holds it). The probe
    interval and the trial count are not touched by this probe.
    """
    connected, error = breaker.instance_connected()
    log_event(logger, "gateway_event_probe", connected=connected, error=error)
    if connected:
        breaker.note_paired()
        resume_sends()
    return connected


@task()
def probe_gateway() -> bool:
    """Return whether the gateway was found connected (the queued probe of an open breaker)."""
    connected, next_probe_at = breaker.probe()
    if connected:
        resume_sends()
    elif next_probe_at is not None:
        probe_gateway.using(run_after=next_probe_at).enqueue()
    return connected


@task()
def run_execution(execution_id: int) -> str | None:
    """Return the final status of the execution after running it (see `execute`)."""
    return execute(execution_id)


def enqueue_execution(execution_id: int, *, run_after: datetime | None = None) -> None:
    """Queue the execution's task, to run now or at `run_after`.

    Call it inside the transaction that creates or updates the row: with the
    database backend the task commits (or rolls back) together with it, so an
    accepted event always has its task; other backends queue after the commit.
    """
    task_ = run_execution.using(run_after=run_after) if run_after else run_execution
    if isinstance(task_.get_backend(), DatabaseBackend):
        task_.enqueue(execution_id)
    else:
        # Redis cannot join our transaction: queue once the row is committed, or a
        # fast worker would find nothing. A crash in between leaves a pending row
        # without a task, which reap_executions re-queues.
        transaction.on_commit(lambda: task_.enqueue(execution_id))

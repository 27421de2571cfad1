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
from django.core.exceptions import ValidationError
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
from triggers.models import ExecutionEvent, TriggerExecution
from triggers.outcomes import ActionOutcome
from triggers.stats.figures import check_watermark, daily_cap_room
from triggers.stats.metrics import CONNECTION_EVENTS
from whatsapp.media import with_media_url
from whatsapp.models import Instance

logger = logging.getLogger("evonexus.executor")


def run_action(execution: TriggerExecution) -> ActionOutcome:
    """Return the outcome of the execution's action; unexpected errors are `unknown`.

    An action that sends WhatsApp goes through its trigger's instance: while
    that instance's breaker holds sends back, or its daily cap is reached, it
    waits (`held`) before anything runs; other instances are not concerned.
    """
    trigger, payload = execution.trigger, execution.trigger.action_payload
    if refusal := demo_refusal(trigger):
        return ActionOutcome.permanent(refusal, attempts=0)
    instance = None
    if trigger.sends_whatsapp:
        try:
            instance = trigger.resolve_instance()
        except ValidationError as exc:  # several instances, and the trigger names none
            return ActionOutcome.permanent(" ".join(exc.messages), attempts=0)
        if instance is None:
            why = "no WhatsApp instance is configured: add one (admin, API, or evolution instance_add)"
            return ActionOutcome.permanent(why, attempts=0)
        if not breaker.may_send(instance, execution.pk):
            why = f"waiting for WhatsApp instance {instance.name} to come back"
            return ActionOutcome.held(HoldReason.GATEWAY_DOWN, why)
        if not execution.over_cap_allowed and not take_cap_slot(instance, execution.pk):
            why = f"the daily cap of instance {instance.name} ({instance.cap} in 24 h) is reached: waiting"
            return ActionOutcome.held(HoldReason.DAILY_CAP, why)
    try:
        event = with_media_url(execution.event_data)
        if trigger.action_type == ActionType.SCRIPT:
            outcome = run_script(payload, event, execution_id=execution.pk, trigger_slug=trigger.slug)
            if outcome.status == ExecutionStatus.COMPLETED and payload.get("reply_via_whatsapp"):
                output = outcome.summary
                return messaging.reply_with_output(
                    output, trigger.recipient, event, execution=execution, instance=instance
                )
            return outcome
        if trigger.action_type == ActionType.WHATSAPP:
            return messaging.send_event_message(
                payload, trigger.recipient, event, execution=execution, instance=instance
            )
        return ActionOutcome.permanent(f"unknown action type {trigger.action_type!r}")
    except Exception as exc:  # a bug or an environment problem: keep it replayable
        logger.exception("action crashed for execution %s", execution.pk)
        return ActionOutcome.failure(ErrorCategory.UNKNOWN, f"action crashed: {type(exc).__name__}: {exc}")


def take_cap_slot(instance: Instance, execution_id: int) -> bool:
    """Return whether the execution may send under `instance`'s daily cap now (always, with no cap).

    The room left and the sends under way are counted and a slot taken in one
    short transaction holding the instance's row, so any number of workers
    together never send past its cap; other instances wait on nothing. The
    slot is given back when the execution finishes.
    """
    if not instance.cap:
        return True
    with transaction.atomic():
        list(Instance.objects.select_for_update().filter(pk=instance.pk).values_list("pk", flat=True))
        room = daily_cap_room(instance) or 0
        return TriggerExecution.objects.take_cap_slot(execution_id, instance=instance, room=room)


def execute(execution_id: int) -> str | None:
    """Return the final status after running the execution, or `None` if not claimed."""
    if not TriggerExecution.objects.claim(execution_id, now=timezone.now()):
        # Another worker got there first, or the execution is no longer pending.
        log_event(logger, "execution_skipped", exec_id=execution_id, reason="not_pending")
        return None
    execution = TriggerExecution.objects.select_related("trigger__instance").get(pk=execution_id)
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
    if outcome.whatsapp_attempts and (instance := execution.trigger.instance) is not None:
        # Sends are where the volume watermark can flip: note it here, not on read paths.
        check_watermark(instance, now=now)
        note_gateway(instance, outcome, now=now)
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


def note_gateway(instance: Instance, outcome: ActionOutcome, *, now: datetime) -> None:
    """Tell `instance`'s breaker what a send found, and queue what follows: a probe, or the releases."""
    if not breaker.enabled():
        return
    if outcome.not_connected:
        failures = outcome.whatsapp_attempts
        probe_at = breaker.note_not_connected(instance, outcome.error, failures=failures, now=now)
        if probe_at is not None:
            probe_gateway.using(run_after=probe_at).enqueue(instance.pk)
    elif breaker.note_connected(instance, now=now):
        release_waiting(instance, now=now)


def release_waiting(instance: Instance, *, now: datetime | None = None) -> list[int]:
    """Return the executions released from waiting for `instance`, oldest first, each queued once.

    Each release is a conditional UPDATE (held → pending) committed with its
    task, so a crash in the middle leaves the rest waiting for the next call,
    and concurrent callers never release one twice. They are spaced
    `GATEWAY_RELEASE_INTERVAL_SECONDS` apart: a pace the gateway takes.
    """
    now = now or timezone.now()
    released: list[int] = []
    spacing = settings.GATEWAY_RELEASE_INTERVAL_SECONDS
    for execution_id in breaker.waiting(instance).values_list("pk", flat=True):
        # Every release names its time: the database queue runs due tasks by run_after.
        run_after = now + timedelta(seconds=spacing * len(released))
        if release(execution_id, run_after=run_after):
            released.append(execution_id)
    if released:
        log_event(logger, "gateway_waiting_released", instance=instance.name, count=len(released))
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
    """What releasing held executions by hand would do: each cap's room, and how many pass it."""

    held: list[TriggerExecution]
    room: int | None  # the room left under the daily caps concerned, together; None: no cap
    past_cap: int


def plan_release(executions: Iterable[TriggerExecution], *, now: datetime | None = None) -> ReleasePlan:
    """Return the plan for releasing the held ones of `executions`, in the order given.

    `past_cap` counts those held for a daily cap beyond its instance's room
    now: releasing them sends past that cap, which only an operator with that
    permission may do. Each instance's cap counts its own executions only.
    """
    held = [e for e in executions if e.status == ExecutionStatus.HELD]
    capped: dict[Instance | None, int] = {}
    for execution in held:
        if execution.hold_reason == HoldReason.DAILY_CAP:
            capped[execution.trigger.instance] = capped.get(execution.trigger.instance, 0) + 1
    rooms = {instance: daily_cap_room(instance, now=now) for instance in capped if instance is not None}
    rooms = {instance: room for instance, room in rooms.items() if room is not None}
    past_cap = sum(max(capped[instance] - room, 0) for instance, room in rooms.items())
    return ReleasePlan(held, sum(rooms.values()) if rooms else None, past_cap)


def release_planned(plan: ReleasePlan) -> list[TriggerExecution]:
    """Return the executions of `plan` this call released (each once, past the cap if it says so)."""
    over_cap = plan.past_cap > 0
    return [e for e in plan.held if release(e.pk, reason=e.hold_reason, over_cap=over_cap)]


def release_capped(*, now: datetime | None = None) -> list[int]:
    """Return the executions released because their instance's rolling 24 hours have room again.

    As many as each instance has room for, oldest first; a cap turned off
    releases them all. The reaper's pass calls it, so they go without an operator.
    """
    released: list[int] = []
    capped = TriggerExecution.objects.held(HoldReason.DAILY_CAP)
    for instance in Instance.objects.filter(triggers__executions__in=capped).distinct():
        room = daily_cap_room(instance, now=now)
        ids = list(capped.filter(trigger__instance=instance).values_list("pk", flat=True)[:room])
        released += [pk for pk in ids if release(pk, reason=HoldReason.DAILY_CAP)]
    return released


def resume_sends(instance: Instance, *, now: datetime | None = None) -> None:
    """Act on signs that `instance` is back (a probe, a `Connected` event): one trial send first."""
    if (trial := breaker.begin_trial(instance, now=now)) is not None:
        release(trial)
    elif breaker.status(instance).state == breaker.State.CLOSED:
        release_waiting(instance, now=now)


def tick_gateway(*, now: datetime | None = None) -> None:
    """Do what a lost task would have, for every instance: a due probe, deciding a finished trial,
    releasing waiting sends.

    The reaper's pass calls it, so each breaker moves on even when a probe's
    task or a trial's worker was lost.
    """
    now = now or timezone.now()
    for instance in Instance.objects.all():
        tick_instance(instance, now=now)


def tick_instance(instance: Instance, *, now: datetime) -> None:
    """Do one instance's part of `tick_gateway`."""
    state = breaker.status(instance).state
    if state == breaker.State.OPEN:
        connected, _ = breaker.probe(instance, now=now)
        if connected:
            resume_sends(instance, now=now)
    elif state == breaker.State.HALF_OPEN:
        trial = breaker.trial_outcome(instance)
        if trial == ExecutionStatus.COMPLETED:
            if breaker.note_connected(instance, now=now):
                release_waiting(instance, now=now)
        elif trial not in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.HELD):
            breaker.note_not_connected(instance, "the trial send did not complete", now=now)
    elif breaker.waiting(instance).exists():
        release_waiting(instance, now=now)


def note_connection_event(
    connection: str | None,
    *,
    instance_id: int | None,
    ban_seconds: float | None = None,
    now: datetime | None = None,
) -> None:
    """Count and log a connection event, and move the breaker of the instance it comes from.

    `connection` is what the event says (`connected`, `disconnected`,
    `logged_out`, `banned`; `None`: nothing to act on); `instance_id` the
    instance whose token authenticated it (the trigger's): no other instance
    moves. Gone: its state is recorded, its breaker opens at once and the probe
    it asks for is queued. Back (`connected`): a status probe is queued
    (rate-limited), and only its answer moves the breaker on and records the state.
    """
    instance = Instance.objects.filter(pk=instance_id).first() if instance_id is not None else None
    name = instance.name if instance is not None else None
    CONNECTION_EVENTS.labels(str(connection), str(instance is not None).lower()).inc()
    log_event(logger, "gateway_connection_event", connection=connection, instance=name)
    if connection is None or instance is None:
        return
    now = now or timezone.now()
    ban_end = now + breaker.ban_length(ban_seconds) if connection == "banned" else None
    if connection != "connected":
        # The sender's names for a connection are the instance's states (`disconnected`, ...).
        instance.note_state(Instance.State(connection), banned_until=ban_end, now=now)
    if not breaker.enabled():
        return
    if connection == "connected":
        if breaker.claim_event_probe(instance, now=now):
            confirm_connected.enqueue(instance.pk)
        return
    probe_at = breaker.connection_lost(
        instance, connection, error=f"the instance reported {connection}", ban_seconds=ban_seconds, now=now
    )
    if probe_at is not None:
        probe_gateway.using(run_after=probe_at).enqueue(instance.pk)


@task()
def confirm_connected(instance_id: int) -> bool:
    """Return whether the instance answered connected to the probe a `Connected` event asked for.

    Connected and logged in: a logged-out hold ends, and the breaker tries one
    send first as after any probe (a ban still in force holds it). The probe
    interval and the trial count are not touched by this probe.
    """
    if (instance := Instance.objects.filter(pk=instance_id).first()) is None:
        return False  # deleted meanwhile
    connected, error = breaker.instance_connected(instance)
    log_event(logger, "gateway_event_probe", instance=instance.name, connected=connected, error=error)
    if connected:
        breaker.note_paired(instance)
        resume_sends(instance)
    return connected


@task()
def probe_gateway(instance_id: int) -> bool:
    """Return whether the instance was found connected (the queued probe of its open breaker)."""
    if (instance := Instance.objects.filter(pk=instance_id).first()) is None:
        return False
    connected, next_probe_at = breaker.probe(instance)
    if connected:
        resume_sends(instance)
    elif next_probe_at is not None:
        probe_gateway.using(run_after=next_probe_at).enqueue(instance.pk)
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

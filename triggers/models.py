"""Triggers (a webhook URL and what to do) and their executions (one per event)."""

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.db.models.signals import post_save
from django.dispatch import Signal, receiver
from django.urls import reverse
from django.utils import timezone

from triggers.choices import ActionType, ErrorCategory, ExecutionStatus, HoldReason, Source, failure_status
from triggers.outcomes import ActionOutcome
from triggers.validators import (
    JSON_FIELD_DECODER,
    generate_secret,
    time_ordered_uuid,
    validate_action_payload,
    validate_event_filter,
    validate_key_paths,
    validate_recipient,
    validate_secret_length,
    validate_storable_json,
)
from whatsapp.models import Instance

IDEMPOTENCY_CONSTRAINT = "triggers_execution_unique_active_key"

# Sent with `public_ids` after a queryset `update()` of triggers (`bulk_update()` runs
# through it), for which Django sends no `post_save`: the trigger cache listens.
triggers_updated = Signal()


class TriggerQuerySet(models.QuerySet):
    """Triggers; bulk changes announce themselves, so no process keeps a stale copy."""

    def update(self, **kwargs) -> int:
        public_ids = list(self.values_list("public_id", flat=True))
        count = super().update(**kwargs)
        triggers_updated.send(sender=Trigger, public_ids=public_ids)
        return count

    def lock(self) -> None:
        """Lock these triggers' rows until the transaction ends (PostgreSQL: `FOR UPDATE`)."""
        list(self.select_for_update().values_list("pk", flat=True))

    def delete(self) -> tuple[int, dict[str, int]]:
        """Return what was deleted, the triggers' rows locked first.

        An event arriving for a trigger being deleted inserts an execution that
        references it. Locking the triggers (PostgreSQL: `FOR UPDATE`, which
        such an INSERT's foreign-key check waits on) before the cascade collects
        their executions means none can slip in between and fail the delete
        at commit; the waiting INSERT then finds the trigger gone (a 404).
        """
        with transaction.atomic(using=self.db):
            self.lock()
            return super().delete()


class Trigger(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.CUSTOM)
    event_filter = models.JSONField(
        default=dict,
        decoder=JSON_FIELD_DECODER,
        blank=True,
        validators=[validate_event_filter, validate_storable_json],
        help_text='Conditions the event must meet, e.g. {"event_type": "push", "branch": "main"}.',
    )
    idempotency_key_paths = models.JSONField(
        default=list,
        decoder=JSON_FIELD_DECODER,
        blank=True,
        validators=[validate_key_paths, validate_storable_json],
        help_text="Dotted paths to the event's unique id; empty uses the source's defaults.",
    )
    key_signed_bodies = models.BooleanField(
        default=True,
        help_text="A signed request whose signature covers no id of its own is keyed by the SHA-256 of "
        "its body, so a captured copy never runs again, whatever its unsigned headers say. Off: "
        "identical signed bodies are separate events, and a captured request runs each time it is "
        "sent (an unsigned Idempotency-Key header, which anyone can change, is then the key).",
    )
    action_type = models.CharField(max_length=20, choices=ActionType.choices, default=ActionType.SCRIPT)
    action_payload = models.JSONField(
        default=dict,
        decoder=JSON_FIELD_DECODER,
        blank=True,
        validators=[validate_storable_json],
        help_text='script: {"script": "name", "args": [], "reply_via_whatsapp": false}; '
        'whatsapp: {"message": "Hi {{ push_name }}, you said {{ text }}"}.',
    )
    recipient = models.CharField(
        max_length=100,
        blank=True,
        default="",
        validators=[validate_recipient],
        help_text="WhatsApp number or JID to send to; empty: the event's sender.",
    )
    secret = models.CharField(max_length=255, default=generate_secret, validators=[validate_secret_length])
    next_secret = models.CharField(
        max_length=255,
        blank=True,
        default="",
        validators=[validate_secret_length],
        help_text="During a secret rotation, the new secret; both it and `secret` verify until "
        "the rotation is finished (it becomes `secret`) or cancelled.",
    )
    instance = models.ForeignKey(
        Instance,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="triggers",
        help_text="The WhatsApp number this trigger listens to (source whatsapp) and sends through. "
        "Blank while there is one instance: that one.",
    )
    auto_redeliveries = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(10)],
        help_text="How many times a transient failure is retried automatically (on the "
        "AUTO_REDELIVERY_SCHEDULE) before it lands in the dead-letter queue.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TriggerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        """Save, bound to its WhatsApp instance first when it needs one (see `bind_instance`)."""
        changed = self.bind_instance()
        if kwargs.get("update_fields") is not None and changed:
            kwargs["update_fields"] = {*kwargs["update_fields"], *changed}
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs) -> tuple[int, dict[str, int]]:
        """Return what was deleted; the row is locked first (see `TriggerQuerySet.delete`)."""
        with transaction.atomic(using=self._state.db):
            Trigger.objects.filter(pk=self.pk).lock()
            return super().delete(*args, **kwargs)

    @property
    def needs_instance(self) -> bool:
        """Return whether the trigger uses a WhatsApp instance: it listens to one, or sends."""
        return self.source == Source.WHATSAPP or self.sends_whatsapp

    def choose_instance(self) -> Instance | None:
        """Return the instance this trigger should be bound to, or `None` (none fits yet).

        Its own if set. A `whatsapp` trigger: the instance holding its secret
        (the instance token its events carry). A trigger that only sends: the
        only instance. Raises `ValidationError` on `instance` when it sends,
        names none and several exist: which number would be a guess.
        """
        if self.instance_id is not None:
            return self.instance
        if self.source == Source.WHATSAPP:
            return Instance.objects.holding(self.secret)
        if not self.sends_whatsapp:
            return None
        if (sole := Instance.objects.sole()) is None and Instance.objects.exists():
            names = ", ".join(Instance.objects.names())
            raise ValidationError(
                {"instance": f"several WhatsApp instances exist ({names}): name the one this trigger uses"}
            )
        return sole

    def bind_instance(self) -> set[str]:
        """Return the fields this changed, after binding the trigger to its instance (see `choose_instance`).

        Only a trigger that needs an instance and has none is bound. A
        `whatsapp` trigger whose secret no instance holds gets a new instance
        named after it, holding that secret: a trigger made the way of one
        number keeps working. A `whatsapp` trigger's secret is its instance's
        token, so its events authenticate with it and no other instance's.
        """
        changed: set[str] = set()
        if not self.needs_instance:
            return changed
        if self.instance_id is None:
            try:
                chosen = self.choose_instance()
            except ValidationError:
                chosen = None  # the send fails with the reason; forms and the API refuse first
            if chosen is None and self.source == Source.WHATSAPP:
                chosen = _instance_for_token(self.secret, self.slug)
            if chosen is not None:
                self.instance, changed = chosen, {"instance"}
        if self.source == Source.WHATSAPP and self.instance is not None:
            if (self.secret, self.next_secret) != (self.instance.token, ""):
                self.secret, self.next_secret = self.instance.token, ""
                changed |= {"secret", "next_secret"}
        return changed

    def resolve_instance(self) -> Instance | None:
        """Return the instance the trigger uses now, binding it first when it had none and one fits.

        `None`: it uses none, or there is no instance yet. Raises what
        `choose_instance` raises when it sends, names none and several exist.
        """
        if self.instance_id is None and self.needs_instance:
            chosen = self.choose_instance()
            if chosen is not None:
                Trigger.objects.filter(pk=self.pk, instance__isnull=True).update(instance=chosen)
                self.instance = chosen
        return self.instance

    def signing_secrets(self) -> list[str]:
        """Return the secrets a request may be signed with: the current one, then the next, if any."""
        return [self.secret, self.next_secret] if self.next_secret else [self.secret]

    @property
    def sends_whatsapp(self) -> bool:
        """Return whether the action sends WhatsApp: a message, or a script's reply to the sender."""
        return self.action_type == ActionType.WHATSAPP or bool(self.action_payload.get("reply_via_whatsapp"))

    def get_webhook_path(self) -> str:
        """Return the path (no host) that senders POST this trigger's events to."""
        return reverse("trigger-webhook", kwargs={"public_id": self.public_id})

    def clean(self) -> None:
        try:
            validate_action_payload(self.action_type, self.action_payload)
        except ValidationError as exc:
            raise ValidationError({"action_payload": exc.messages}) from None
        self.choose_instance()


@receiver(post_save, sender=Instance)
def follow_instance_token(sender, instance: Instance, **kwargs) -> None:
    """Give the `whatsapp` triggers of an instance its token as their secret (after a rotation).

    Their events carry the instance's token: the new one verifies, the old one no longer.
    """
    listeners = Trigger.objects.filter(instance=instance, source=Source.WHATSAPP)
    listeners.exclude(secret=instance.token).update(secret=instance.token, next_secret="")


def _instance_for_token(token: str, slug: str) -> Instance:
    """Return a new instance holding `token`, named after `slug`; or the one a concurrent save made.

    Two saves racing to make it (the same token, or the same free name) meet
    the unique constraints: the loser takes the winner's instance, or the next name.
    """
    for _ in range(3):
        try:
            with transaction.atomic():
                return Instance.objects.create(name=_free_instance_name(slug), token=token)
        except IntegrityError:
            if (holder := Instance.objects.holding(token)) is not None:
                return holder
    raise IntegrityError(f"no free instance name after {slug!r}")


def _free_instance_name(slug: str) -> str:
    """Return `slug` as an instance name no instance has (suffixed -2, -3, ... when taken)."""
    base = slug[:44] or "instance"
    taken = set(Instance.objects.filter(name__startswith=base).values_list("name", flat=True))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


# What the statuses mean together, defined once: the queryset's filters and the moves
# below use these, and the stats rollup's SQL (`triggers.stats.rollup`) is tested against them.
RUNNABLE = Q(status=ExecutionStatus.PENDING) | Q(
    status=ExecutionStatus.FAILED_RETRYABLE, redelivery_at__isnull=False
)
DEAD_LETTER = Q(status=ExecutionStatus.FAILED_RETRYABLE, redelivery_at__isnull=True)
AWAITING_REDELIVERY = Q(status=ExecutionStatus.FAILED_RETRYABLE, redelivery_at__isnull=False)
REPLAYABLE = (ExecutionStatus.FAILED_RETRYABLE, ExecutionStatus.FAILED)

LOST_WORKER_ERROR = "worker lost during execution; the action may have partly run"


class ExecutionQuerySet(models.QuerySet):
    """Executions, and every move of their life.

    Each move is one conditional UPDATE with the old state in its WHERE: of any
    number of processes making the same move, exactly one sees a row count of 1
    and goes on. Callers that queue a task after a move do it in the same
    transaction (`triggers.execute.executor.enqueue_execution`).
    """

    def with_duplicate_count(self) -> "ExecutionQuerySet":
        """Return these executions with `duplicate_count`: the duplicate deliveries each absorbed.

        Counted from the event rows (one per duplicate), per execution shown:
        recording a duplicate writes an event row and never the execution's
        own row, so concurrent duplicates of one key wait on no lock.
        """
        duplicates = (
            ExecutionEvent.objects.filter(execution=models.OuterRef("pk"), kind=ExecutionEvent.Kind.DUPLICATE)
            .order_by()
            .values("execution")
            .annotate(count=models.Count("pk"))
            .values("count")
        )
        return self.annotate(
            duplicate_count=Coalesce(models.Subquery(duplicates), 0)
        )

    # --- what the statuses mean ---------------------------------------------------------

    def dead_letter(self) -> "ExecutionQuerySet":
        """Return the dead-letter queue: transient failures with no automatic redelivery ahead."""
        return self.filter(DEAD_LETTER)

    def awaiting_redelivery(self) -> "ExecutionQuerySet":
        """Return transient failures that will be tried again automatically."""
        return self.filter(AWAITING_REDELIVERY)

    def held(self, reason: str) -> "ExecutionQuerySet":
        """Return the executions held for `reason` (a `HoldReason`), in arrival order: the release order."""
        return self.filter(status=ExecutionStatus.HELD, hold_reason=reason).order_by("created_at", "id")

    def lost_runs(self, cutoff: datetime) -> "ExecutionQuerySet":
        """Return the runs started before `cutoff` and still running: their worker is gone."""
        return self.filter(status=ExecutionStatus.RUNNING, started_at__lt=cutoff)

    def stranded(self, cutoff: datetime) -> "ExecutionQuerySet":
        """Return what should have run by `cutoff` and whose task may be lost, not re-queued since.

        Pending since before `cutoff`, or a redelivery due before it; one the
        reaper queued again after `cutoff` is left alone.
        """
        overdue = Q(status=ExecutionStatus.PENDING, created_at__lt=cutoff) | Q(
            status=ExecutionStatus.FAILED_RETRYABLE, redelivery_at__lt=cutoff
        )
        return self.filter(overdue, Q(requeued_at__isnull=True) | Q(requeued_at__lt=cutoff))

    # --- the moves ------------------------------------------------------------------------

    def claim(self, execution_id: int, *, now: datetime) -> bool:
        """Return whether this worker won the execution: runnable → `running`.

        `False` also covers an execution that no longer exists, and a
        redelivery cancelled by a replay.
        """
        return self.filter(RUNNABLE, pk=execution_id).update(
            status=ExecutionStatus.RUNNING, started_at=now, redelivery_at=None
        ) == 1

    def finish(
        self,
        execution_id: int,
        outcome: ActionOutcome,
        *,
        now: datetime,
        duration_seconds: float,
        redelivery_at: datetime | None = None,
    ) -> bool:
        """Return whether the running execution took `outcome`'s status: finished, failed or held.

        A `held` outcome has no completion time (it has not run yet). With
        `redelivery_at`, a transient failure is scheduled to run again then
        (not the dead-letter queue yet) and counts one more redelivery.
        """
        return self.filter(pk=execution_id, status=ExecutionStatus.RUNNING).update(
            status=outcome.status,
            error_category=outcome.category,
            attempts=F("attempts") + outcome.attempts,
            whatsapp_attempts=F("whatsapp_attempts") + outcome.whatsapp_attempts,
            result_summary=outcome.summary,
            error=outcome.error,
            hold_reason=outcome.hold_reason,
            completed_at=None if outcome.status == ExecutionStatus.HELD else now,
            duration_seconds=duration_seconds,
            cap_slot=False,
            redelivery_at=redelivery_at,
            redeliveries=F("redeliveries") + int(redelivery_at is not None),
        ) == 1

    def take_cap_slot(self, execution_id: int, *, instance: Instance, room: int) -> bool:
        """Return whether the running execution took one of the `room` slots `instance`'s daily cap has left.

        The slots other sends through that instance hold count as used. The
        caller holds the lock that makes the count and the taking one step.
        """
        in_flight = self.filter(cap_slot=True, trigger__instance=instance).exclude(pk=execution_id).count()
        if room - in_flight <= 0:
            return False
        return self.filter(pk=execution_id, status=ExecutionStatus.RUNNING).update(cap_slot=True) == 1

    def release(self, execution_id: int, *, reason: str, over_cap: bool = False) -> bool:
        """Return whether this call released the execution held for `reason`: held → `pending`.

        `over_cap` lets it send past the daily cap (an operator who may said so).
        """
        changes = {"status": ExecutionStatus.PENDING, "hold_reason": ""}
        if over_cap:
            changes["over_cap_allowed"] = True
        return self.filter(pk=execution_id, status=ExecutionStatus.HELD, hold_reason=reason).update(
            **changes
        ) == 1

    def mark_replayed(self, execution_id: int, *, now: datetime) -> bool:
        """Return whether this call moved a replayable execution to `replayed`.

        Its key goes to the replay's new execution. Clearing `redelivery_at`
        cancels a scheduled automatic redelivery: its task finds nothing to claim.
        """
        return self.filter(pk=execution_id, status__in=REPLAYABLE).update(
            status=ExecutionStatus.REPLAYED, last_replay_at=now, redelivery_at=None
        ) == 1

    def mark_lost(self, execution_id: int, *, cutoff: datetime, now: datetime) -> bool:
        """Return whether this call moved a run whose worker died to the dead-letter queue.

        Never re-run automatically: the action may have partly happened, so
        an operator decides (`unknown`, `LOST_WORKER_ERROR`).
        """
        return self.lost_runs(cutoff).filter(pk=execution_id).update(
            status=failure_status(ErrorCategory.UNKNOWN),
            error_category=ErrorCategory.UNKNOWN,
            error=LOST_WORKER_ERROR,
            completed_at=now,
            redelivery_at=None,
            cap_slot=False,
        ) == 1

    def redeliver(self, execution_id: int, *, cutoff: datetime, now: datetime) -> bool:
        """Return whether this call may queue a stranded execution again (at most once per period).

        The status does not move: the claim's compare-and-set makes a surplus
        task a no-op.
        """
        return self.stranded(cutoff).filter(pk=execution_id).update(requeued_at=now) == 1


class TriggerExecution(models.Model):
    # No index of its own: (trigger, -created_at) and the dedup index both lead with it.
    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="executions", db_index=False)
    event_data = models.JSONField(default=dict)
    # NULL, not "", means "no key": such events are never deduplicated.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=20, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    error_category = models.CharField(  # noqa: DJ001 (NULL: the execution did not fail)
        max_length=20, choices=ErrorCategory.choices, null=True, blank=True
    )
    attempts = models.PositiveIntegerField(default=0)
    # Calls made to the WhatsApp gateway (0: it was never contacted); stats and the
    # volume watermark count these.
    whatsapp_attempts = models.PositiveIntegerField(default=0)
    result_summary = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    last_replay_at = models.DateTimeField(null=True, blank=True)
    redeliveries = models.PositiveSmallIntegerField(default=0)
    # What the WhatsApp message ids of this execution's sends derive from: unique across
    # databases, resets and restores (the numeric id is not), the same on every retry.
    send_id = models.UUIDField(default=time_ordered_uuid, unique=True, editable=False)
    # Why a `held` execution waits (empty otherwise).
    hold_reason = models.CharField(max_length=20, choices=HoldReason.choices, blank=True, default="")
    # Released past the daily cap by an operator who may: it sends whatever the count.
    over_cap_allowed = models.BooleanField(default=False)
    # Holds one of the daily cap's slots while its send is under way: it counts as sent
    # until it finishes, so concurrent workers never send past the cap together.
    cap_slot = models.BooleanField(default=False)
    # When the reaper last queued this execution again (it does so at most once a period).
    requeued_at = models.DateTimeField(null=True, blank=True)
    # Set while an automatic redelivery is scheduled; cleared when it starts or is cancelled.
    redelivery_at = models.DateTimeField(null=True, blank=True)
    # Indexed where set only (see Meta): most executions are no replay, and every
    # INSERT would otherwise write a NULL into two more indexes.
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays", db_index=False
    )
    # The first execution of this event (None on that first one): the replay
    # chain, for the per-event rate limit, is one query away.
    replay_root = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        db_index=False,
    )

    objects = ExecutionQuerySet.as_manager()

    # When it arrived, ran, ended, was replayed and redelivered: what every view of one shows.
    TIMELINE = (
        "created_at",
        "started_at",
        "completed_at",
        "duration_seconds",
        "last_replay_at",
        "redeliveries",
        "redelivery_at",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("replay_triggerexecution", "Can replay trigger executions"),
            ("release_over_cap_triggerexecution", "Can release held executions past the WhatsApp daily cap"),
            ("force_replay_triggerexecution", "Can replay executions whose message WhatsApp delivered"),
        ]
        constraints = [
            # The dedup rule: one live execution per (trigger, key). A replayed
            # execution hands its key over to the execution that replaces it.
            models.UniqueConstraint(
                fields=["trigger", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False) & ~Q(status="replayed"),
                name=IDEMPOTENCY_CONSTRAINT,
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="triggers_exec_status_created"),
            models.Index(fields=["created_at"], name="triggers_exec_created"),
            models.Index(fields=["trigger", "-created_at"], name="triggers_exec_trigger_created"),
            models.Index(
                fields=["replay_of"], condition=Q(replay_of__isnull=False), name="triggers_exec_replay_of"
            ),
            models.Index(
                fields=["replay_root"],
                condition=Q(replay_root__isnull=False),
                name="triggers_exec_replay_root",
            ),
        ]

    def __str__(self) -> str:
        # The admin's title and History: "Execution #4 · echo · Failed (retryable)".
        return f"Execution #{self.pk} · {self.trigger.slug} · {self.get_status_display()}"

    @property
    def replayable(self) -> bool:
        """Return whether the status allows a replay (the replay rules check the rest)."""
        return self.status in REPLAYABLE


class ExecutionEvent(models.Model):
    """Something that happened to an execution without creating one: for exact stats by time."""

    class Kind(models.TextChoices):
        DUPLICATE = "duplicate", "Duplicate delivery absorbed"
        REDELIVERY = "redelivery", "Automatic redelivery scheduled"

    execution = models.ForeignKey(TriggerExecution, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["kind", "at"], name="triggers_event_kind_at")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for execution {self.execution_id} at {self.at:%Y-%m-%d %H:%M:%S}"


class SentMessageQuerySet(models.QuerySet):
    def undelivered(self, *, now: datetime | None = None) -> "SentMessageQuerySet":
        """Return the messages WhatsApp has not reported delivered `DELIVERY_ALERT_MINUTES` after sending."""
        cutoff = (now or timezone.now()) - timedelta(minutes=settings.DELIVERY_ALERT_MINUTES)
        return self.filter(delivered_at__isnull=True, sent_at__lt=cutoff)


class SentMessage(models.Model):
    """A WhatsApp message an execution sent, and what WhatsApp's receipts said of it."""

    execution = models.ForeignKey(TriggerExecution, on_delete=models.CASCADE, related_name="messages")
    # The number it went out from: only that instance's receipts move it.
    instance = models.ForeignKey(Instance, null=True, on_delete=models.SET_NULL, related_name="messages")
    # The id we gave the gateway; receipts name it (Evolution Go's Receipt MessageIDs).
    message_id = models.CharField(max_length=64, unique=True)
    recipient = models.CharField(max_length=100)
    sent_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = SentMessageQuerySet.as_manager()

    class Meta:
        ordering = ["sent_at", "id"]
        indexes = [
            models.Index(fields=["sent_at"], name="triggers_sent_message_sent_at"),
            # Each instance's sends in the last 24 hours: its cap and its watermark.
            models.Index(fields=["instance", "sent_at"], name="triggers_sent_instance_at"),
        ]

    def __str__(self) -> str:
        return f"WhatsApp message {self.message_id} to {self.recipient}"


class GatewayBreaker(models.Model):
    """A WhatsApp instance's health breaker (one row per instance): every worker reads and moves it.

    `closed`: sends go out. `open`: the instance is not connected; sends wait
    (`held`) and the gateway is probed with backoff. `half_open`: one held
    execution (`trial_execution_id`) may try; its outcome closes or reopens.
    """

    class State(models.TextChoices):
        CLOSED = "closed", "Closed (sending)"
        OPEN = "open", "Open (waiting for the gateway)"
        HALF_OPEN = "half_open", "Half-open (one trial send)"

    instance = models.OneToOneField(Instance, on_delete=models.CASCADE, related_name="breaker")
    state = models.CharField(max_length=10, choices=State.choices, default=State.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    probe_interval_seconds = models.PositiveIntegerField(default=0)
    trial_execution_id = models.BigIntegerField(null=True, blank=True)
    # Opened by an operator (maintenance): no probes, and only an operator closes it.
    manual = models.BooleanField(default=False)
    # Opened by a `LoggedOut` event: the phone must be paired again, so no periodic
    # probe runs; a `Connected` (or `PairSuccess`) event's probe, or an operator, closes it.
    logged_out = models.BooleanField(default=False)
    # Opened by a `TemporaryBan` event: nothing is sent before then, whatever a probe says.
    banned_until = models.DateTimeField(null=True, blank=True)
    # When a connection event last asked for a status probe (they are rate-limited).
    event_probe_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        permissions = [("operate_gatewaybreaker", "Can open and close the WhatsApp gateway breaker")]

    def __str__(self) -> str:
        return f"{self.instance}: {self.get_state_display()}"


def _counter() -> models.BigIntegerField:
    # A database default: each table's counting hook writes its own counters only.
    return models.BigIntegerField(default=0, db_default=0)


class StatsHour(models.Model):
    """Counters for one UTC hour (one row per shard): the stats rollup, kept by the database.

    Executions count in the hour they were created, by their status now;
    duplicates and redeliveries in the hour they arrived or were scheduled;
    messages in the hour they were sent, by what receipts said since. See
    `triggers.stats.rollup`, which writes it; `triggers.stats.figures` reads it.
    """

    hour = models.DateTimeField()
    shard = models.SmallIntegerField(default=0)
    executions = _counter()
    pending = _counter()
    running = _counter()
    completed = _counter()
    failed_retryable = _counter()
    failed = _counter()
    replayed = _counter()
    held = _counter()
    dead_letter = _counter()  # failed_retryable with no automatic redelivery ahead
    operator_replays = _counter()  # executions that are a replay of another
    whatsapp_executions = _counter()  # executions that contacted the gateway
    whatsapp_attempts = _counter()
    duplicates = _counter()
    redeliveries = _counter()
    messages_sent = _counter()
    messages_delivered = _counter()
    messages_read = _counter()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", "shard"], name="triggers_stats_hour_shard")]

    def __str__(self) -> str:
        return f"stats for {self.hour:%Y-%m-%d %H}:00 (shard {self.shard})"


class ExecutionStats(TriggerExecution):
    """The executions, seen as numbers: the admin's "Execution stats" page."""

    class Meta:
        proxy = True
        verbose_name = "execution stats"
        verbose_name_plural = "execution stats"

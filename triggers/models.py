"""Triggers (a webhook URL and what to do) and their executions (one per event)."""

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.urls import reverse

# The choices and validators live in their own modules; they are re-exported here
# because migrations and older code reference them as `triggers.models.<name>`.
from triggers.choices import ActionType, ErrorCategory, ExecutionStatus, HoldReason, Source
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

__all__ = [
    "ActionType",
    "ErrorCategory",
    "ExecutionEvent",
    "ExecutionStats",
    "ExecutionStatus",
    "GatewayBreaker",
    "HoldReason",
    "SentMessage",
    "Source",
    "StatsHour",
    "Trigger",
    "TriggerExecution",
    "WatermarkState",
    "generate_secret",
    "validate_event_filter",
    "validate_key_paths",
    "validate_recipient",
    "validate_storable_json",
]

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

    def signing_secrets(self) -> list[str]:
        """Return the secrets a request may be signed with: the current one, then the next, if any."""
        return [self.secret, self.next_secret] if self.next_secret else [self.secret]

    def get_webhook_path(self) -> str:
        """Return the path (no host) that senders POST this trigger's events to."""
        return reverse("trigger-webhook", kwargs={"public_id": self.public_id})

    def clean(self) -> None:
        try:
            validate_action_payload(self.action_type, self.action_payload)
        except ValidationError as exc:
            raise ValidationError({"action_payload": exc.messages}) from None


class ExecutionQuerySet(models.QuerySet):
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

    def dead_letter(self) -> "ExecutionQuerySet":
        """Return the dead-letter queue: transient failures with no automatic redelivery ahead."""
        return self.filter(status=ExecutionStatus.FAILED_RETRYABLE, redelivery_at__isnull=True)

    def awaiting_redelivery(self) -> "ExecutionQuerySet":
        """Return transient failures that will be tried again automatically."""
        return self.filter(status=ExecutionStatus.FAILED_RETRYABLE, redelivery_at__isnull=False)

    def held(self, reason: str) -> "ExecutionQuerySet":
        """Return the executions held for `reason` (a `HoldReason`), in arrival order: the release order."""
        return self.filter(status=ExecutionStatus.HELD, hold_reason=reason).order_by("created_at", "id")


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


class SentMessage(models.Model):
    """A WhatsApp message an execution sent, and what WhatsApp's receipts said of it."""

    execution = models.ForeignKey(TriggerExecution, on_delete=models.CASCADE, related_name="messages")
    # The id we gave the gateway; receipts name it (Evolution Go's Receipt MessageIDs).
    message_id = models.CharField(max_length=64, unique=True)
    recipient = models.CharField(max_length=100)
    sent_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sent_at", "id"]
        indexes = [models.Index(fields=["sent_at"], name="triggers_sent_message_sent_at")]

    def __str__(self) -> str:
        return f"WhatsApp message {self.message_id} to {self.recipient}"


class GatewayBreaker(models.Model):
    """The WhatsApp gateway's health breaker (one row): every worker reads and moves the same state.

    `closed`: sends go out. `open`: the instance is not connected; sends wait
    (`held`) and the gateway is probed with backoff. `half_open`: one held
    execution (`trial_execution_id`) may try; its outcome closes or reopens.
    """

    class State(models.TextChoices):
        CLOSED = "closed", "Closed (sending)"
        OPEN = "open", "Open (waiting for the gateway)"
        HALF_OPEN = "half_open", "Half-open (one trial send)"

    state = models.CharField(max_length=10, choices=State.choices, default=State.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    probe_interval_seconds = models.PositiveIntegerField(default=0)
    trial_execution_id = models.BigIntegerField(null=True, blank=True)
    # Opened by an operator (maintenance): no probes, and only an operator closes it.
    manual = models.BooleanField(default=False)
    last_error = models.TextField(blank=True, default="")
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        permissions = [("operate_gatewaybreaker", "Can open and close the WhatsApp gateway breaker")]

    def __str__(self) -> str:
        return f"WhatsApp gateway breaker: {self.get_state_display()}"


class WatermarkState(models.Model):
    """The last known state of the WhatsApp volume watermark (one row), so every process
    sees a flip once."""

    hit = models.BooleanField(default=False)
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "watermark hit" if self.hit else "below watermark"


def _counter() -> models.BigIntegerField:
    # A database default: each table's rollup trigger writes its own counters only.
    return models.BigIntegerField(default=0, db_default=0)


class StatsHour(models.Model):
    """Counters for one UTC hour (one row per shard): the stats rollup, kept by database triggers.

    Executions count in the hour they were created, by their status now;
    duplicates and redeliveries in the hour they arrived or were scheduled;
    messages in the hour they were sent, by what receipts said since. See
    `triggers.rollup`, which writes it; `triggers.stats` reads it.
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

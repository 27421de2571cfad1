"""Operational stats and the WhatsApp volume watermark: the one computation every view shows.

ORM aggregates only (no SQL strings), a handful of queries whatever the table size.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from evonexus.logs import log_event
from triggers.models import ExecutionEvent, ExecutionStatus, TriggerExecution, WatermarkState

logger = logging.getLogger("evonexus.stats")

MIN_DAYS, MAX_DAYS = 1, 30


def clamp_days(days: int) -> int:
    """Return `days` held to the 1-30 window."""
    return max(MIN_DAYS, min(MAX_DAYS, days))


def whatsapp_sends_since(since: datetime) -> int:
    """Return how many executions created since `since` sent, or tried to send, WhatsApp."""
    return TriggerExecution.objects.filter(created_at__gte=since, whatsapp_attempts__gt=0).count()


@dataclass(frozen=True)
class Watermark:
    """WhatsApp sends in the last 24 hours against the daily threshold."""

    sends_24h: int
    threshold: int

    @property
    def hit(self) -> bool:
        return self.sends_24h > self.threshold


def check_watermark(*, now: datetime | None = None) -> Watermark:
    """Return the watermark now (sends over the threshold is a hit; equal is not), logging a flip."""
    now = now or timezone.now()
    watermark = Watermark(whatsapp_sends_since(now - timedelta(hours=24)), settings.WHATSAPP_DAILY_WATERMARK)
    record_watermark_state(watermark, now)
    return watermark


def compute_stats(days: int = 1, *, now: datetime | None = None) -> dict:
    """Return the stats over the last `days` days (clamped to 1-30), as JSON-ready data.

    Counts by creation time unless said otherwise: `dlq_size` is the queue
    now; `idempotent_replays` counts duplicate deliveries by when they
    arrived; `replays` counts operator replays and automatic redeliveries by
    when they started; the watermark always looks at the last 24 hours.
    """
    now = now or timezone.now()
    days = clamp_days(days)
    since = now - timedelta(days=days)
    in_window = TriggerExecution.objects.filter(created_at__gte=since, created_at__lte=now)
    contacted_gateway = Q(whatsapp_attempts__gt=0)
    totals = in_window.aggregate(
        total=Count("id"),
        operator_replays=Count("id", filter=Q(replay_of__isnull=False)),
        wpp=Count("id", filter=contacted_gateway),
        wpp_attempts=Sum("whatsapp_attempts", filter=contacted_gateway, default=0),
        **{f"status_{value}": Count("id", filter=Q(status=value)) for value in ExecutionStatus.values},
    )
    events = ExecutionEvent.objects.filter(at__gte=since, at__lte=now).aggregate(
        duplicates=Count("id", filter=Q(kind=ExecutionEvent.Kind.DUPLICATE)),
        redeliveries=Count("id", filter=Q(kind=ExecutionEvent.Kind.REDELIVERY)),
    )
    watermark = check_watermark(now=now)
    return {
        "window_days": days,
        "total_executions": totals["total"],
        "by_status": {value: totals[f"status_{value}"] for value in ExecutionStatus.values},
        "dlq_size": TriggerExecution.objects.dead_letter().count(),
        "idempotent_replays": events["duplicates"],
        "replays": totals["operator_replays"] + events["redeliveries"],
        "wpp_command_count": totals["wpp"],
        "retries_observed": totals["wpp_attempts"] - totals["wpp"],
        "whatsapp_sends_24h": watermark.sends_24h,
        "circuit_breaker_watermark_hit": watermark.hit,
        "watermark_threshold": watermark.threshold,
        "generated_at": now.isoformat(),
    }


def record_watermark_state(watermark: Watermark, now: datetime) -> bool:
    """Return whether this call flipped the stored watermark state (and logged the flip).

    The state lives in the database, and the flip is a conditional UPDATE:
    of any number of processes computing stats at once, exactly one sees the
    change and logs it.
    """
    hit = watermark.hit
    WatermarkState.objects.get_or_create(pk=1)
    flipped = WatermarkState.objects.filter(pk=1).exclude(hit=hit).update(hit=hit, changed_at=now) == 1
    fields = {"sends_24h": watermark.sends_24h, "threshold": watermark.threshold}
    if flipped and hit:
        log_event(logger, "circuit_breaker_watermark_hit", level=logging.WARNING, **fields)
    elif flipped:
        log_event(logger, "circuit_breaker_watermark_cleared", **fields)
    return flipped

"""Operational stats and the WhatsApp volume watermark: the one computation every view shows.

Reading stats never writes; the watermark's flip is recorded by `check_watermark`,
which the executor calls after each action that contacted the gateway.

ORM aggregates only (no SQL strings), a handful of queries whatever the table size.
"""

import itertools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from evonexus.logs import log_event
from triggers.metrics import WATERMARK_FLIPS
from triggers.models import ExecutionEvent, ExecutionStatus, SentMessage, TriggerExecution, WatermarkState
from triggers.receipts import undelivered

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


def current_watermark(*, now: datetime | None = None) -> Watermark:
    """Return the watermark now: sends over the threshold is a hit; equal is not. Writes nothing."""
    now = now or timezone.now()
    return Watermark(whatsapp_sends_since(now - timedelta(hours=24)), settings.WHATSAPP_DAILY_WATERMARK)


def daily_cap_room(*, now: datetime | None = None) -> int | None:
    """Return how many more WhatsApp messages may go out under `WHATSAPP_DAILY_CAP` now (`None`: no cap).

    Counts the messages the gateway accepted in the rolling 24 hours, by when
    they were sent (an execution held for a day counts when it finally sends).
    """
    if not settings.WHATSAPP_DAILY_CAP:
        return None
    since = (now or timezone.now()) - timedelta(hours=24)
    return max(settings.WHATSAPP_DAILY_CAP - SentMessage.objects.filter(sent_at__gte=since).count(), 0)


def check_watermark(*, now: datetime | None = None) -> Watermark:
    """Return the watermark now, after recording (and logging, once) a flip.

    Called where sends happen (the executor, after an action that contacted
    the gateway), so a flip is noticed whether or not anybody reads the stats.
    """
    now = now or timezone.now()
    watermark = current_watermark(now=now)
    record_watermark_state(watermark, now)
    return watermark


@dataclass(frozen=True)
class Stats:
    """The operational numbers over one window (see `compute_stats`)."""

    window_days: int
    total_executions: int
    by_status: dict[str, int]
    dlq_size: int
    idempotent_replays: int
    replays: int
    wpp_command_count: int
    retries_observed: int
    messages_sent: int
    messages_delivered: int
    messages_read: int
    undelivered: int
    watermark: Watermark
    generated_at: datetime

    def as_dict(self) -> dict:
        """Return the stats as the API, the command's JSON and the metrics give them."""
        return {
            "window_days": self.window_days,
            "total_executions": self.total_executions,
            "by_status": dict(self.by_status),
            "dlq_size": self.dlq_size,
            "idempotent_replays": self.idempotent_replays,
            "replays": self.replays,
            "wpp_command_count": self.wpp_command_count,
            "retries_observed": self.retries_observed,
            "messages_sent": self.messages_sent,
            "messages_delivered": self.messages_delivered,
            "messages_read": self.messages_read,
            "undelivered": self.undelivered,
            "whatsapp_sends_24h": self.watermark.sends_24h,
            "circuit_breaker_watermark_hit": self.watermark.hit,
            "watermark_threshold": self.watermark.threshold,
            "generated_at": self.generated_at.isoformat(),
        }


def compute_stats(days: int = 1, *, now: datetime | None = None) -> Stats:
    """Return the stats over the last `days` days (clamped to 1-30). Reads only.

    Counts by creation time unless said otherwise: `dlq_size` is the queue
    now; `idempotent_replays` counts duplicate deliveries by when they
    arrived; `replays` counts operator replays and automatic redeliveries by
    when they started; the WhatsApp messages count by when they were sent
    (`undelivered`: not reported delivered `DELIVERY_ALERT_MINUTES` later);
    the watermark always looks at the last 24 hours.
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
    sent = SentMessage.objects.filter(sent_at__gte=since, sent_at__lte=now)
    messages = sent.aggregate(
        sent=Count("id"),
        delivered=Count("id", filter=Q(delivered_at__isnull=False)),
        read=Count("id", filter=Q(read_at__isnull=False)),
    )
    return Stats(
        window_days=days,
        total_executions=totals["total"],
        by_status={value: totals[f"status_{value}"] for value in ExecutionStatus.values},
        dlq_size=TriggerExecution.objects.dead_letter().count(),
        idempotent_replays=events["duplicates"],
        replays=totals["operator_replays"] + events["redeliveries"],
        wpp_command_count=totals["wpp"],
        retries_observed=totals["wpp_attempts"] - totals["wpp"],
        messages_sent=messages["sent"],
        messages_delivered=messages["delivered"],
        messages_read=messages["read"],
        undelivered=undelivered(now=now).filter(sent_at__gte=since).count(),
        watermark=current_watermark(now=now),
        generated_at=now,
    )


@dataclass(frozen=True)
class Series:
    """Counts per time bucket, oldest first: each bucket a dict of `label`, `start`, and the counts.

    The buckets tile the rolling window exactly (the last one ends now), so
    their totals equal `compute_stats`' numbers over the same window.
    """

    buckets: list[dict]

    def total(self, key: str) -> int:
        return sum(bucket[key] for bucket in self.buckets)


def _bucketed(queryset, field: str, edges: list[datetime], counts: dict[str, Q]) -> list[dict]:
    """Return, per bucket between consecutive `edges`, each of `counts` (a name -> filter) counted."""
    expressions = {}
    for index, (start, end) in enumerate(itertools.pairwise(edges)):
        within = Q(**{f"{field}__gte": start}) & (
            Q(**{f"{field}__lte": end}) if index == len(edges) - 2 else Q(**{f"{field}__lt": end})
        )
        for name, condition in counts.items():
            expressions[f"b{index}_{name}"] = Count("id", filter=within & condition)
    window = {f"{field}__gte": edges[0], f"{field}__lte": edges[-1]}
    totals = queryset.filter(**window).aggregate(**expressions)
    return [{name: totals[f"b{index}_{name}"] for name in counts} for index in range(len(edges) - 1)]


def series(*, buckets: int, width: timedelta, now: datetime | None = None) -> Series:
    """Return `buckets` buckets of `width` ending now: executions by outcome, duplicates, WhatsApp sends.

    Outcomes count executions by creation time and current status
    (`completed`, `failed`, `failed_retryable`) and those that sent WhatsApp
    (`sends`, the watermark's measure); `duplicates` the deliveries absorbed, by
    arrival. Two queries, whatever the number of buckets.
    """
    now = now or timezone.now()
    edges = [now - width * (buckets - index) for index in range(buckets + 1)]
    counts = {status: Q(status=status) for status in ("completed", "failed", "failed_retryable")}
    # WhatsApp sends as the table and the watermark count them: executions that sent or tried.
    counts["sends"] = Q(whatsapp_attempts__gt=0)
    by_outcome = _bucketed(TriggerExecution.objects.all(), "created_at", edges, counts)
    duplicates = _bucketed(
        ExecutionEvent.objects.all(), "at", edges, {"duplicates": Q(kind=ExecutionEvent.Kind.DUPLICATE)}
    )
    label_format = "%H:%M" if width < timedelta(days=1) else "%d %b"
    return Series(
        [
            {
                "label": timezone.localtime(edges[index + 1]).strftime(label_format),
                "start": edges[index],
                **by_outcome[index],
                **duplicates[index],
            }
            for index in range(buckets)
        ]
    )


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
    if flipped:
        WATERMARK_FLIPS.labels("hit" if hit else "cleared").inc()
    if flipped and hit:
        log_event(logger, "circuit_breaker_watermark_hit", level=logging.WARNING, **fields)
    elif flipped:
        log_event(logger, "circuit_breaker_watermark_cleared", **fields)
    return flipped

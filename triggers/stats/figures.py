"""Operational stats and the WhatsApp volume watermark: the one computation every view shows.

Reading stats never writes; the watermark's flip is recorded by `check_watermark`,
which the executor calls after each action that contacted the gateway.

The counts come from the hourly rollup (`StatsHour`, kept exact by database
triggers: `triggers.stats.rollup`), never from counting rows, so a read costs the
same at a thousand executions or ten million. Windows are therefore whole
hours: "the last N days" is the current hour and the 24N-1 hours before it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from evonexus.logs import log_event
from triggers.choices import ExecutionStatus
from triggers.models import SentMessage, StatsHour, WatermarkState
from triggers.stats.metrics import WATERMARK_FLIPS
from triggers.stats.rollup import COUNTER_FIELDS, floor_hour

logger = logging.getLogger("evonexus.stats")

MIN_DAYS, MAX_DAYS = 1, 30


def clamp_days(days: int) -> int:
    """Return `days` held to the 1-30 window."""
    return max(MIN_DAYS, min(MAX_DAYS, days))


HOUR = timedelta(hours=1)


def window_start(hours: int, now: datetime) -> datetime:
    """Return where a window of the last `hours` whole hours starts: the current hour is the last one."""
    return floor_hour(now) + HOUR - hours * HOUR


def _hours(start: datetime, now: datetime):
    """Return the rollup rows of the hours from `start` through the current one."""
    return StatsHour.objects.filter(hour__gte=start, hour__lt=window_start(0, now))


def counters(start: datetime, now: datetime) -> dict[str, int]:
    """Return every rollup counter summed over the hours from `start` to the current one."""
    return _hours(start, now).aggregate(**{name: Sum(name, default=0) for name in COUNTER_FIELDS})


def whatsapp_sends_24h(now: datetime) -> int:
    """Return how many executions of the last 24 hours sent, or tried to send, WhatsApp."""
    sends = Sum("whatsapp_executions", default=0)
    return _hours(window_start(24, now), now).aggregate(sends=sends)["sends"]


@dataclass(frozen=True)
class Watermark:
    """WhatsApp sends in the last 24 hours against the daily threshold."""

    sends_24h: int
    threshold: int

    @property
    def hit(self) -> bool:
        return self.sends_24h > self.threshold


def current_watermark(*, now: datetime | None = None) -> Watermark:
    """Return the watermark now: sends over the threshold is a hit; equal is not. Writes nothing.

    It counts the executions of the last 24 whole hours that contacted the gateway.
    """
    now = now or timezone.now()
    return Watermark(whatsapp_sends_24h(now), settings.WHATSAPP_DAILY_WATERMARK)


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
    """Return the stats over the last `days` days (clamped to 1-30) in whole hours. Reads only.

    Executions count in the hour they were created, by their status now:
    `dlq_size` is the queue now, whenever its executions came;
    `idempotent_replays` counts duplicate deliveries by when they arrived;
    `replays` counts operator replays by when they were made and automatic
    redeliveries by when they were scheduled to run; the WhatsApp messages
    count by when they were sent (`undelivered`: not reported delivered
    `DELIVERY_ALERT_MINUTES` later); the watermark always looks at the last
    24 hours.
    """
    now = now or timezone.now()
    days = clamp_days(days)
    start = window_start(days * 24, now)
    totals = counters(start, now)
    return Stats(
        window_days=days,
        total_executions=totals["executions"],
        by_status={value: totals[value] for value in ExecutionStatus.values},
        dlq_size=StatsHour.objects.aggregate(size=Sum("dead_letter", default=0))["size"],
        idempotent_replays=totals["duplicates"],
        replays=totals["operator_replays"] + totals["redeliveries"],
        wpp_command_count=totals["whatsapp_executions"],
        retries_observed=totals["whatsapp_attempts"] - totals["whatsapp_executions"],
        messages_sent=totals["messages_sent"],
        messages_delivered=totals["messages_delivered"],
        messages_read=totals["messages_read"],
        undelivered=SentMessage.objects.undelivered(now=now).filter(sent_at__gte=start).count(),
        watermark=current_watermark(now=now),
        generated_at=now,
    )


@dataclass(frozen=True)
class Series:
    """Counts per time bucket, oldest first: each bucket a dict of `label`, `start`, and the counts.

    The buckets tile the window `compute_stats` counts over (whole hours, the
    current one last), so their totals equal its numbers.
    """

    buckets: list[dict]

    def total(self, key: str) -> int:
        return sum(bucket[key] for bucket in self.buckets)


# What the charts show: a bucket's key and the rollup counter it sums.
SERIES_COUNTERS = {
    "completed": "completed",
    "failed": "failed",
    "failed_retryable": "failed_retryable",
    "sends": "whatsapp_executions",  # as the table and the watermark count them
    "duplicates": "duplicates",
}


def series(*, buckets: int, width: timedelta, now: datetime | None = None) -> Series:
    """Return `buckets` buckets of `width` (whole hours) ending with the current hour.

    Outcomes count executions by creation time and current status
    (`completed`, `failed`, `failed_retryable`) and those that sent WhatsApp
    (`sends`, the watermark's measure); `duplicates` the deliveries absorbed, by
    arrival. One query, whatever the number of buckets.
    """
    now = now or timezone.now()
    end = window_start(0, now)
    edges = [end - width * (buckets - index) for index in range(buckets + 1)]
    per_hour = (
        _hours(edges[0], now)
        .values("hour")
        .annotate(**{key: Sum(counter) for key, counter in SERIES_COUNTERS.items()})
    )
    counts = [dict.fromkeys(SERIES_COUNTERS, 0) for _ in range(buckets)]
    for hour in per_hour:
        index = min(int((hour["hour"] - edges[0]) / width), buckets - 1)
        for key in SERIES_COUNTERS:
            counts[index][key] += hour[key]
    label_format = "%H:%M" if width < timedelta(days=1) else "%d %b"
    return Series(
        [
            {
                "label": timezone.localtime(edges[index + 1]).strftime(label_format),
                "start": edges[index],
                **counts[index],
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

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
from triggers.models import SentMessage, StatsHour
from triggers.stats.metrics import WATERMARK_FLIPS
from triggers.stats.rollup import COUNTER_FIELDS, floor_hour
from whatsapp.models import Instance

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


@dataclass(frozen=True)
class Watermark:
    """One WhatsApp instance's accepted sends in the last 24 hours against its threshold and cap."""

    sends_24h: int
    threshold: int
    instance: str = ""
    cap: int = 0  # 0: no daily cap

    @property
    def hit(self) -> bool:
        return self.sends_24h > self.threshold

    @property
    def room(self) -> int | None:
        """Return how many more sends the daily cap allows now (`None`: no cap)."""
        return max(self.cap - self.sends_24h, 0) if self.cap else None

    def as_dict(self) -> dict:
        return {
            "instance": self.instance,
            "sends_24h": self.sends_24h,
            "watermark_threshold": self.threshold,
            "watermark_hit": self.hit,
            "daily_cap": self.cap or None,
            "daily_cap_room": self.room,
        }


def sends_24h(instance: Instance, *, now: datetime | None = None) -> int:
    """Return how many messages `instance` had accepted in the rolling 24 hours, by when they were sent.

    An execution held for a day counts when it finally sends.
    """
    since = (now or timezone.now()) - timedelta(hours=24)
    return SentMessage.objects.filter(instance=instance, sent_at__gte=since).count()


def instance_watermark(instance: Instance, *, now: datetime | None = None) -> Watermark:
    """Return `instance`'s watermark now: sends over its threshold is a hit; equal is not. Writes nothing."""
    return Watermark(sends_24h(instance, now=now), instance.threshold, instance.name, instance.cap)


def watermarks(*, now: datetime | None = None, instance: str | None = None) -> list[Watermark]:
    """Return every instance's watermark (or the one named `instance`), by name."""
    instances = Instance.objects.order_by("name")
    if instance is not None:
        instances = instances.filter(name=instance)
    return [instance_watermark(each, now=now) for each in instances]


def worst(found: list[Watermark]) -> Watermark:
    """Return the watermark nearest its threshold (the badge's); none: an empty one at the default."""
    if not found:
        return Watermark(0, settings.WHATSAPP_DAILY_WATERMARK)
    return max(found, key=lambda watermark: (watermark.sends_24h / watermark.threshold, watermark.sends_24h))


def current_watermark(*, now: datetime | None = None) -> Watermark:
    """Return the worst instance's watermark now (see `worst`). Writes nothing."""
    return worst(watermarks(now=now))


def daily_cap_room(instance: Instance, *, now: datetime | None = None) -> int | None:
    """Return how many more messages `instance` may send under its daily cap now (`None`: no cap)."""
    if not instance.cap:
        return None  # nothing to count
    return instance_watermark(instance, now=now).room


def check_watermark(instance: Instance, *, now: datetime | None = None) -> Watermark:
    """Return `instance`'s watermark now, after recording (and logging, once) a flip.

    Called where sends happen (the executor, after an action that contacted
    the gateway), so a flip is noticed whether or not anybody reads the stats.
    """
    now = now or timezone.now()
    watermark = instance_watermark(instance, now=now)
    record_watermark_state(instance, watermark, now)
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
    watermark: Watermark  # the worst instance's (the badge's)
    instances: list[Watermark]
    generated_at: datetime
    instance: str | None = None  # the filter: one instance's WhatsApp figures

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
            "whatsapp_sends_24h": sum(each.sends_24h for each in self.instances),
            "circuit_breaker_watermark_hit": any(each.hit for each in self.instances),
            "watermark_threshold": self.watermark.threshold,
            "worst_instance": self.watermark.instance or None,
            "instance": self.instance,
            "instances": [each.as_dict() for each in self.instances],
            "generated_at": self.generated_at.isoformat(),
        }


def compute_stats(days: int = 1, *, now: datetime | None = None, instance: str | None = None) -> Stats:
    """Return the stats over the last `days` days (clamped to 1-30) in whole hours. Reads only.

    Executions count in the hour they were created, by their status now:
    `dlq_size` is the queue now, whenever its executions came;
    `idempotent_replays` counts duplicate deliveries by when they arrived;
    `replays` counts operator replays by when they were made and automatic
    redeliveries by when they were scheduled to run; the WhatsApp messages
    count by when they were sent (`undelivered`: not reported delivered
    `DELIVERY_ALERT_MINUTES` later); the watermark always looks at the last
    24 hours, per WhatsApp instance (`instances`; the badge shows the worst).
    With `instance` (a name), the messages and the watermark are that
    instance's only; the executions' counts stay every trigger's.
    """
    now = now or timezone.now()
    days = clamp_days(days)
    start = window_start(days * 24, now)
    totals = counters(start, now)
    messages = SentMessage.objects.filter(sent_at__gte=start)
    if instance is not None:
        messages = messages.filter(instance__name=instance)
        totals |= {
            "messages_sent": messages.count(),
            "messages_delivered": messages.filter(delivered_at__isnull=False).count(),
            "messages_read": messages.filter(read_at__isnull=False).count(),
        }
    volumes = watermarks(now=now, instance=instance)
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
        undelivered=messages.undelivered(now=now).count(),
        watermark=worst(volumes),
        instances=volumes,
        generated_at=now,
        instance=instance,
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


def record_watermark_state(instance: Instance, watermark: Watermark, now: datetime) -> bool:
    """Return whether this call flipped `instance`'s stored watermark state (and logged the flip).

    The state lives in the database, and the flip is a conditional UPDATE:
    of any number of processes computing stats at once, exactly one sees the
    change and logs it.
    """
    hit = watermark.hit
    row = Instance.objects.filter(pk=instance.pk)
    flipped = row.exclude(watermark_hit=hit).update(watermark_hit=hit) == 1
    fields = {"instance": instance.name, "sends_24h": watermark.sends_24h, "threshold": watermark.threshold}
    if flipped:
        WATERMARK_FLIPS.labels("hit" if hit else "cleared").inc()
    if flipped and hit:
        log_event(logger, "circuit_breaker_watermark_hit", level=logging.WARNING, **fields)
    elif flipped:
        log_event(logger, "circuit_breaker_watermark_cleared", **fields)
    return flipped

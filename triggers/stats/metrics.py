"""Prometheus metrics at /metrics.

Counters live in each process; with `PROMETHEUS_MULTIPROC_DIR` set (gunicorn
with several workers, plus db_workers on the same machine) every process
writes them there and a scrape sums them. Executions by status and the DLQ
size are read from the database at scrape time, so they agree everywhere:
from the stats rollup, so a scrape costs the same whatever the table size.
"""

import hmac
import os
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from triggers.choices import ExecutionStatus
from triggers.models import GatewayBreaker, SentMessage, StatsHour
from whatsapp.models import Instance

WEBHOOKS = Counter(
    "evonexus_webhooks", "Webhook requests by trigger source and outcome.", ["source", "outcome"]
)
WEBHOOK_SECONDS = Histogram("evonexus_webhook_seconds", "Time to answer a webhook request.")
MESSAGES_SENT = Counter("evonexus_whatsapp_messages_sent", "WhatsApp messages the gateway accepted from us.")
MESSAGES_DELIVERED = Counter(
    "evonexus_whatsapp_messages_delivered", "Our WhatsApp messages first reported delivered by a receipt."
)
BREAKER_TRANSITIONS = Counter(
    "evonexus_gateway_breaker_transitions", "Moves of the WhatsApp gateway breaker, by state reached.", ["to"]
)
WATERMARK_FLIPS = Counter(
    "evonexus_watermark_flips", "Flips of the WhatsApp volume watermark, by the side reached.", ["to"]
)
MESSAGES_READ = Counter("evonexus_whatsapp_messages_read", "Our WhatsApp messages first reported read.")
CONNECTION_EVENTS = Counter(
    "evonexus_gateway_connection_events",
    "Connection events from WhatsApp instances, by what they said (and whether an instance sent them).",
    ["connection", "trusted"],
)


class DatabaseCollector:
    """Numbers that are states, read from the database (the rollup's every hour) at scrape time."""

    def collect(self):
        by_status = GaugeMetricFamily(
            "evonexus_executions_total", "Executions by current status.", labels=["status"]
        )
        counters = [*ExecutionStatus.values, "dead_letter"]
        counts = StatsHour.objects.aggregate(**{name: Sum(name, default=0) for name in counters})
        for status in ExecutionStatus.values:
            by_status.add_metric([status], counts[status])
        yield by_status
        yield GaugeMetricFamily(
            "evonexus_dlq_size", "Executions waiting in the dead-letter queue.", value=counts["dead_letter"]
        )
        breakers = GaugeMetricFamily(
            "evonexus_gateway_breaker_open",
            "1 while an instance's breaker holds its WhatsApp sends back (open or half-open), else 0.",
            labels=["instance"],
        )
        # Every instance, read once: the three gauges below have a line for each.
        instances = list(Instance.objects.order_by("name").values_list("name", "state"))
        states = dict(GatewayBreaker.objects.values_list("instance__name", "state"))
        for name, _ in instances:
            closed = states.get(name, GatewayBreaker.State.CLOSED) == GatewayBreaker.State.CLOSED
            breakers.add_metric([name], int(not closed))
        yield breakers
        state = GaugeMetricFamily(
            "evonexus_whatsapp_instance_state",
            "1 for what each WhatsApp instance's server last said of it (connected, disconnected, ...).",
            labels=["instance", "state"],
        )
        for name, current in instances:
            for value in Instance.State.values:
                state.add_metric([name, value], int(value == current))
        yield state
        since = timezone.now() - timedelta(hours=24)
        sent = dict(
            SentMessage.objects.filter(sent_at__gte=since, instance__isnull=False)
            .values_list("instance__name")
            .annotate(count=Count("pk"))
        )
        sends = GaugeMetricFamily(
            "evonexus_whatsapp_sends_24h",
            "Messages each WhatsApp instance had accepted in the last 24 hours (its watermark's measure).",
            labels=["instance"],
        )
        for name, _ in instances:
            sends.add_metric([name], sent.get(name, 0))
        yield sends


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return True
    return request.user.is_authenticated and request.user.is_staff


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Return the metrics in Prometheus' text format, for `METRICS_TOKEN` bearers or staff."""
    if not _allowed(request):
        response = HttpResponse(
            "Send Authorization: Bearer <METRICS_TOKEN>, or log in as staff.\n", status=401
        )
        response["WWW-Authenticate"] = "Bearer"
        return response
    database = CollectorRegistry()
    database.register(DatabaseCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
        output = generate_latest(processes)
    else:
        output = generate_latest(REGISTRY)
    return HttpResponse(output + generate_latest(database), content_type=CONTENT_TYPE_LATEST)

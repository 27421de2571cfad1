"""Prometheus metrics at /metrics.

Counters live in each process; with `PROMETHEUS_MULTIPROC_DIR` set (gunicorn
with several workers, plus db_workers on the same machine) every process
writes them there and a scrape sums them. Executions by status and the DLQ
size are read from the database at scrape time, so they agree everywhere:
from the stats rollup, so a scrape costs the same whatever the table size.
"""

import hmac
import os

from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from triggers.choices import ExecutionStatus
from triggers.models import GatewayBreaker, StatsHour

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
    "Connection events from the WhatsApp instance, by what they said (and whether we trusted them).",
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
        gateway = GatewayBreaker.objects.filter(pk=1).values_list("state", flat=True).first()
        yield GaugeMetricFamily(
            "evonexus_gateway_breaker_open",
            "1 while the WhatsApp gateway breaker holds sends back (open or half-open), else 0.",
            value=int(gateway not in (None, GatewayBreaker.State.CLOSED)),
        )


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

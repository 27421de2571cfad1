"""Operational endpoints at the root: /metrics and /healthz."""

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.urls import path

from triggers.execute import breaker
from triggers.models import Trigger
from triggers.stats.metrics import metrics_view


def healthz(request: HttpRequest) -> JsonResponse:
    """Return 200 when the database answers, 503 when it does not (for load balancers; no auth).

    Each WhatsApp instance's breaker comes along as a detail (`gateways`, by
    instance name): a number that is down does not make this service unhealthy
    (its sends wait), but the operator wants to see it.
    """
    try:
        Trigger.objects.exists()
        gateways = [status.as_dict() for status in breaker.statuses()]
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "gateways": gateways})


urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
]

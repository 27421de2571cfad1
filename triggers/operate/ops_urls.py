"""Operational endpoints at the root: /metrics and /healthz."""

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.urls import path

from triggers.execute import breaker
from triggers.models import Trigger
from triggers.stats.metrics import metrics_view


def healthz(request: HttpRequest) -> JsonResponse:
    """Return 200 when the database answers, 503 when it does not (for load balancers; no auth).

    The WhatsApp gateway breaker's state comes along as a detail: a gateway that
    is down does not make this service unhealthy (its sends wait), but the
    operator wants to see it.
    """
    try:
        Trigger.objects.exists()
        gateway = breaker.status().as_dict()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "gateway": gateway})


urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
]

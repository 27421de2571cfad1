"""Operational endpoints at the root: /metrics and /healthz."""

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.urls import path

from triggers.metrics import metrics_view
from triggers.models import Trigger


def healthz(request: HttpRequest) -> JsonResponse:
    """Return 200 when the database answers, 503 when it does not (for load balancers; no auth)."""
    try:
        Trigger.objects.exists()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
]

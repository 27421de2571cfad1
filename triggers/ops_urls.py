"""Operational endpoints at the root: /metrics."""

from django.urls import path

from triggers.metrics import metrics_view

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
]

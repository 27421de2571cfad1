"""URLs under /api/triggers/."""

from django.urls import re_path

from triggers.operate import api
from triggers.receive import webhook

trigger_list = api.TriggerViewSet.as_view({"get": "list", "post": "create"})
trigger_detail = api.TriggerViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)
execution_list = api.ExecutionViewSet.as_view({"get": "list"})
execution_detail = api.ExecutionViewSet.as_view({"get": "retrieve"})

urlpatterns = [
    re_path(r"^$", trigger_list, name="trigger-list"),
    re_path(r"^(?P<pk>[0-9]{1,18})/?$", trigger_detail, name="trigger-detail"),
    re_path(
        r"^(?P<pk>[0-9]{1,18})/secret-rotation/?$",
        api.SecretRotationView.as_view(),
        name="trigger-secret-rotation",
    ),
    re_path(
        r"^(?P<pk>[0-9]{1,18})/secret-rotation/finish/?$",
        api.SecretRotationFinishView.as_view(),
        name="trigger-secret-rotation-finish",
    ),
    re_path(r"^executions/?$", execution_list, name="execution-list"),
    re_path(r"^stats/?$", api.StatsView.as_view(), name="trigger-stats"),
    re_path(r"^executions/(?P<pk>[0-9]{1,18})/?$", execution_detail, name="execution-detail"),
    re_path(
        r"^executions/(?P<pk>[0-9]{1,18})/replay/?$", api.ReplayView.as_view(), name="execution-replay"
    ),
    re_path(
        r"^executions/(?P<pk>[0-9]{1,18})/replay-preview/?$",
        api.ReplayPreviewView.as_view(),
        name="execution-replay-preview",
    ),
    # Any text is routed here so that a malformed id gets the endpoint's JSON 404.
    re_path(r"^(?P<public_id>[^/]+)/webhook/?$", webhook.WebhookView.as_view(), name="trigger-webhook"),
]

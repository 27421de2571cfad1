"""Who may do what: every endpoint and admin page, for every kind of visitor, as a table."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from triggers.models import TriggerExecution
from triggers.receive.recording import record_event

ANON, CUSTOMER, STAFF, REPLAYER, SUPERUSER = "anonymous", "non-staff", "staff", "staff+replay", "superuser"
VISITORS = [ANON, CUSTOMER, STAFF, REPLAYER, SUPERUSER]

# (method, path, expected status per visitor). Staff here may view executions; "staff+replay"
# also holds triggers.replay_triggerexecution; neither holds any trigger permission, so the
# API refuses them triggers exactly as the admin does. {failed} is a dead-lettered
# execution's id, {trigger} its trigger's.
MATRIX = [
    ("get", "/api/triggers/", {ANON: 401, CUSTOMER: 403, STAFF: 403, REPLAYER: 403, SUPERUSER: 200}),
    (
        "delete",
        "/api/triggers/{trigger}/",
        {ANON: 401, CUSTOMER: 403, STAFF: 403, REPLAYER: 403, SUPERUSER: 204},
    ),
    (
        "post",
        "/api/triggers/{trigger}/secret-rotation",
        {ANON: 401, CUSTOMER: 403, STAFF: 403, REPLAYER: 403, SUPERUSER: 201},
    ),
    (
        "get",
        "/api/triggers/executions/{failed}/",
        {ANON: 401, CUSTOMER: 403, STAFF: 200, REPLAYER: 200, SUPERUSER: 200},
    ),
    (
        "get",
        "/api/triggers/executions/",
        {ANON: 401, CUSTOMER: 403, STAFF: 200, REPLAYER: 200, SUPERUSER: 200},
    ),
    ("get", "/api/triggers/stats", {ANON: 401, CUSTOMER: 403, STAFF: 200, REPLAYER: 200, SUPERUSER: 200}),
    ("get", "/api/schema/", {ANON: 401, CUSTOMER: 403, STAFF: 200, REPLAYER: 200, SUPERUSER: 200}),
    (
        "post",
        "/api/triggers/executions/{failed}/replay",
        {ANON: 401, CUSTOMER: 403, STAFF: 403, REPLAYER: 202, SUPERUSER: 202},
    ),
    ("get", "/metrics", {ANON: 401, CUSTOMER: 401, STAFF: 200, REPLAYER: 200, SUPERUSER: 200}),
    ("get", "/healthz", {ANON: 200, CUSTOMER: 200, STAFF: 200, REPLAYER: 200, SUPERUSER: 200}),
    (
        "get",
        "/admin/triggers/triggerexecution/",
        {ANON: 302, CUSTOMER: 302, STAFF: 200, REPLAYER: 200, SUPERUSER: 200},
    ),
    (
        "get",
        "/admin/triggers/executionstats/",
        {ANON: 302, CUSTOMER: 302, STAFF: 200, REPLAYER: 200, SUPERUSER: 200},
    ),
    (
        "get",
        "/admin/triggers/trigger/",
        {ANON: 302, CUSTOMER: 302, STAFF: 403, REPLAYER: 403, SUPERUSER: 200},
    ),
    (
        "post_replay_action",
        "/admin/triggers/triggerexecution/",
        {ANON: 302, CUSTOMER: 302, STAFF: 403, REPLAYER: 302, SUPERUSER: 302},
    ),
]


def visitor(kind: str, django_user_model) -> Client:
    client = Client()
    if kind == ANON:
        return client
    if kind == SUPERUSER:
        user = django_user_model.objects.create_superuser(kind, password="pw-matrix-1")
    else:
        user = django_user_model.objects.create_user(kind, password="pw-matrix-1", is_staff=kind != CUSTOMER)
        codenames = {
            STAFF: ["view_triggerexecution"],
            REPLAYER: ["view_triggerexecution", "replay_triggerexecution"],
        }
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames.get(kind, [])))
    client.force_login(user)
    return client


@pytest.mark.parametrize("kind", VISITORS)
@pytest.mark.parametrize(("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_every_visitor_gets_the_documented_answer(
    django_user_model, make_trigger, settings, kind, method, path, expected
):
    settings.METRICS_TOKEN = "matrix-metrics-token-0123456789"
    trigger = make_trigger()
    failed = record_event(trigger, {"text": "/status"}, "evt-1").execution_id
    TriggerExecution.objects.filter(pk=failed).update(status="failed_retryable", error_category="transient")
    client = visitor(kind, django_user_model)
    url = path.format(failed=failed, trigger=trigger.pk)

    if method == "post_replay_action":
        response = client.post(
            url, {"action": "replay_selected", "_selected_action": [failed], "post": "yes"}
        )
    elif method == "post":
        response = client.post(url, content_type="application/json")  # the API parses JSON only
    else:
        response = getattr(client, method)(url)

    assert response.status_code == expected[kind]
    is_replay_request = path.endswith("/replay") or method == "post_replay_action"
    may_replay = kind in (REPLAYER, SUPERUSER)
    assert TriggerExecution.objects.filter(replay_of_id=failed).exists() == (is_replay_request and may_replay)

"""Operators manage triggers and read executions over the REST API (staff only)."""

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from triggers.models import Trigger, TriggerExecution
from triggers.receive.recording import record_event

NEW_TRIGGER = {
    "name": "Deploy on push",
    "slug": "deploy-on-push",
    "source": "github",
    "event_filter": {"event_type": "push", "branch": "main"},
    "action_type": "script",
    "action_payload": {"script": "deploy.sh"},
}


def test_it_creates_a_trigger_and_shows_the_generated_secret_once(staff_client):
    created = staff_client.post("/api/triggers/", NEW_TRIGGER, format="json")

    assert created.status_code == 201
    trigger = Trigger.objects.get()
    assert created.json()["secret"] == trigger.secret
    assert len(trigger.secret) == 64
    assert created.json()["webhook_url"] == f"http://testserver/api/triggers/{trigger.public_id}/webhook"
    shown_later = staff_client.get(f"/api/triggers/{trigger.pk}/").json()
    assert "secret" not in shown_later
    assert "secret" not in staff_client.get("/api/triggers/").json()["results"][0]


def test_it_builds_webhook_urls_from_the_public_base_url(staff_client, settings):
    settings.PUBLIC_BASE_URL = "https://hooks.example.com/"

    created = staff_client.post("/api/triggers/", NEW_TRIGGER, format="json").json()

    assert created["webhook_url"].startswith("https://hooks.example.com/api/triggers/")


def test_it_keeps_a_given_secret(staff_client):
    created = staff_client.post(
        "/api/triggers/", {**NEW_TRIGGER, "secret": "my-own-shared-secret-123"}, format="json"
    )

    assert Trigger.objects.get(pk=created.json()["id"]).secret == "my-own-shared-secret-123"


def test_it_updates_and_deletes_a_trigger(staff_client, make_trigger):
    trigger = make_trigger()

    patched = staff_client.patch(f"/api/triggers/{trigger.pk}/", {"enabled": False}, format="json")
    deleted = staff_client.delete(f"/api/triggers/{trigger.pk}/")

    assert patched.status_code == 200
    assert patched.json()["enabled"] is False
    assert deleted.status_code == 204
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"action_payload": {}}, "action_payload"),
        ({"action_payload": {"script": "x.sh", "args": "not-a-list"}}, "action_payload"),
        ({"event_filter": ["not", "an", "object"]}, "event_filter"),
        ({"idempotency_key_paths": "data.id"}, "idempotency_key_paths"),
        ({"source": "myspace"}, "source"),
        ({"slug": "has spaces"}, "slug"),
        ({"secret": "short"}, "secret"),
    ],
)
def test_it_refuses_an_invalid_trigger_with_400_naming_the_field(staff_client, change, field):
    response = staff_client.post("/api/triggers/", {**NEW_TRIGGER, **change}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Trigger.objects.exists()


def test_it_lists_executions_filtered_by_status_trigger_and_category(staff_client, make_trigger):
    first, second = make_trigger(slug="first"), make_trigger(slug="second")
    done = record_event(first, {}, "a").execution_id
    record_event(second, {}, "b")
    TriggerExecution.objects.filter(pk=done).update(status="failed_retryable", error_category="transient")

    by_status = staff_client.get("/api/triggers/executions/?status=failed_retryable").json()
    by_slug = staff_client.get("/api/triggers/executions/?trigger=second").json()
    by_id = staff_client.get(f"/api/triggers/executions/?trigger={first.pk}").json()
    by_category = staff_client.get("/api/triggers/executions/?error_category=transient").json()

    assert [e["id"] for e in by_status["results"]] == [done]
    assert [e["trigger_slug"] for e in by_slug["results"]] == ["second"]
    assert [e["id"] for e in by_id["results"]] == [done]
    assert [e["id"] for e in by_category["results"]] == [done]
    assert by_status["count"] == 1


def test_it_refuses_an_unknown_status_filter_with_400(staff_client):
    response = staff_client.get("/api/triggers/executions/?status=exploded")

    assert response.status_code == 400
    assert "status" in response.json()


def test_it_shows_one_execution(staff_client, make_trigger):
    execution_id = record_event(make_trigger(), {"data": {"x": 1}}, "k").execution_id

    response = staff_client.get(f"/api/triggers/executions/{execution_id}/")

    assert response.status_code == 200
    assert response.json()["idempotency_key"] == "k"
    assert response.json()["event_data"] == {"data": {"x": 1}}
    assert staff_client.get("/api/triggers/executions/999999/").status_code == 404


def test_it_answers_401_to_anonymous_callers(db):
    response = APIClient().get("/api/triggers/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_it_answers_403_to_users_who_are_not_staff(db, django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("customer", password="pw-customer-1"))

    assert client.get("/api/triggers/").status_code == 403
    assert client.get("/api/triggers/executions/").status_code == 403


def test_it_accepts_a_token_made_by_drf_create_token(db, django_user_model):
    robot = django_user_model.objects.create_user("robot", password="pw-robot-1", is_staff=True)
    robot.user_permissions.add(Permission.objects.get(codename="view_trigger"))
    call_command("drf_create_token", "robot")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get().key}")

    assert client.get("/api/triggers/").status_code == 200


def test_it_serves_an_openapi_schema_with_the_trigger_endpoints(staff_client):
    response = staff_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/triggers/" in paths
    assert "/api/triggers/executions/" in paths
    assert {
        "/api/triggers/{public_id}/webhook/",
        "/api/triggers/stats/",
        "/api/triggers/executions/{id}/replay/",
    } <= set(paths)


GOOD_START = '{"name": "n", "slug": "s", '


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        (GOOD_START + '"event_filter": {"x": "a\\u0000b"}}', "NUL"),
        (GOOD_START + '"action_payload": {"script": "a.sh", "args": ["\\u0000"]}}', "NUL"),
        (GOOD_START + '"idempotency_key_paths": ["data.\\u0000"]}', "NUL"),
        (GOOD_START + '"event_filter": {"x": "\\ud800"}}', "surrogates"),
        (GOOD_START + '"name": "b"}', "more than once"),
        (GOOD_START + '"auto_redeliveries": NaN}', "NaN"),
        ("[1]", "JSON object"),
    ],
)
def test_it_refuses_json_a_database_cannot_store_or_could_misread(staff_client, body, message_part):
    response = staff_client.post("/api/triggers/", data=body, content_type="application/json")

    assert response.status_code == 400
    assert message_part in response.json()["detail"]
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"), [("name", 123), ("slug", 1.5), ("recipient", True), ("secret", 10**20)]
)
def test_it_refuses_a_number_or_boolean_where_a_string_is_expected(staff_client, field, value):
    body = {"name": "n", "slug": "s", "action_payload": {"script": "a.sh"}, field: value}

    response = staff_client.post("/api/triggers/", body, format="json")

    assert response.status_code == 400
    assert response.json() == {field: ["Must be a string."]}


def test_it_refuses_a_nul_in_the_query_string(staff_client):
    response = staff_client.get("/api/triggers/executions/?trigger=a%00b")

    assert response.status_code == 400
    assert "NUL" in response.json()["message"]

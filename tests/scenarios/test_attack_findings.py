"""The attack findings, one test a row: each failed on the code the attack ran against.

Row 6 (the sign-in throttle) is in evonexus/test_login_throttle.py, row 8 (slow and
idle clients) in scenarios/test_slow_clients.py; SECURITY.md says what stops each.
"""

import json

import pytest
import redis
import requests
from django.contrib.auth.models import Permission
from django.core.checks import Warning
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from evonexus.redaction import redact_secrets
from tests.receive.test_idempotency_keys import STRIPE_EVENT
from tests.receive.test_ingest_whatsapp import RECEIPT
from tests.support.commands import run_command
from tests.support.processes import ROOT, ServerProcess
from tests.support.signing import SECRET, sign, signature_headers, webhook_path
from triggers.checks import check_demo_trigger
from triggers.execute import executor
from triggers.execute.demo import ensure_demo_trigger
from triggers.execute.messaging import message_seed
from triggers.models import LOST_WORKER_ERROR, SentMessage, Trigger, TriggerExecution
from triggers.receive.recording import record_event
from whatsapp.client import derive_message_id


def replayed_with_a_new_header(client, trigger, body: bytes, headers: dict, changed: dict):
    first = client.post(webhook_path(trigger), data=body, content_type="application/json", headers=headers)
    copy = client.post(
        webhook_path(trigger), data=body, content_type="application/json", headers={**headers, **changed}
    )
    return first, copy


# --- 1. a captured request sent again with a new unsigned header -------------------------


@pytest.mark.parametrize(
    ("source", "sign_as", "payload", "changed"),
    [
        ("stripe", "stripe", STRIPE_EVENT, {"Idempotency-Key": "attacker-2"}),
        ("custom", "standard", {"type": "invoice.paid"}, {"Idempotency-Key": "attacker-2"}),
        ("github", "github", {"ref": "refs/heads/main"}, {"X-GitHub-Delivery": "attacker-2"}),
        ("custom", "custom", {"event": "order.paid"}, {"Idempotency-Key": "attacker-2"}),
    ],
    ids=["stripe", "standard-webhooks", "github", "x-webhook-signature"],
)
def test_a_captured_request_with_a_changed_unsigned_header_is_a_duplicate(
    client, make_trigger, source, sign_as, payload, changed
):
    trigger = make_trigger(source=source)
    body = json.dumps(payload).encode()
    headers = {
        **signature_headers(sign_as, body),
        "Idempotency-Key": "sender-1",
        "X-GitHub-Delivery": "sender-1",
    }

    first, copy = replayed_with_a_new_header(client, trigger, body, headers, changed)

    assert (first.status_code, copy.json()["status"]) == (202, "duplicate")
    assert TriggerExecution.objects.count() == 1


# --- 2, 3. numbers no database stores -----------------------------------------------------


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1" + "0" * 400 + ".5"])
def test_an_overflowing_number_in_a_webhook_is_a_400(post_event, make_trigger, number):
    response = post_event(make_trigger(), None, raw=f'{{"amount": {number}}}'.encode())

    assert response.status_code == 400
    assert "out of range" in response.json()["message"]
    assert not TriggerExecution.objects.exists()


@pytest.mark.parametrize("number", ["1e999", "NaN", "Infinity"])
def test_a_non_finite_number_in_the_api_is_a_400(staff_client, number):
    body = f'{{"name": "n", "slug": "n", "event_filter": {{"x": {number}}}}}'

    response = staff_client.post("/api/triggers/", body, content_type="application/json")

    assert response.status_code == 400
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    "value", ['{"x": 1e999}', '{"x": NaN}', '{"a": 1, "a": 2}'], ids=["1e999", "NaN", "dup"]
)
def test_a_bad_json_field_in_the_admin_is_a_form_error(admin_client, value):
    from tests.support.forms import admin_trigger_form

    response = admin_client.post("/admin/triggers/trigger/add/", admin_trigger_form(event_filter=value))

    assert response.status_code == 200
    assert "Enter a valid JSON" in response.content.decode()
    assert not Trigger.objects.exists()


# --- 4. webhooks right after a delete, in processes that had the trigger cached -----------


@pytest.mark.process
def test_webhooks_for_a_trigger_deleted_a_moment_ago_are_404_in_every_process(
    transactional_db, make_trigger, tmp_path
):
    server = ServerProcess(tmp_path / "server.log", workers=2, threads=2)
    try:
        trigger = make_trigger()
        url = server.url + webhook_path(trigger)

        def post(n: int) -> int:
            body = json.dumps({"idempotency_key": f"k{n}"}).encode()
            headers = {"Content-Type": "application/json", "X-Webhook-Signature": sign(body)}
            return requests.post(url, data=body, headers=headers, timeout=10).status_code

        assert {post(n) for n in range(10)} == {202}  # both workers have it cached now
        Trigger.objects.filter(pk=trigger.pk).delete()
        codes = [post(n) for n in range(10, 30)]
    finally:
        server.stop()

    assert set(codes) == {404}, codes
    assert "Traceback" not in server.log()


# --- 5. the demo trigger is no open relay ----------------------------------------------


def test_the_demo_trigger_refuses_to_send_through_a_real_gateway(db, settings, sleeps):
    trigger = ensure_demo_trigger("sandbox-instance-token")
    settings.EVOLUTION_GO_URL = "https://evolution.example.com"
    settings.EVOLUTION_GO_INSTANCE_TOKEN = "a-real-instance-token"
    execution_id = record_event(trigger, {"sender": "5511900000000", "text": "spam"}, None).execution_id

    executor.execute(execution_id)

    execution = TriggerExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.whatsapp_attempts) == ("failed", 0)
    assert "only sends to the local sandbox" in execution.error


def test_check_deploy_reports_the_demo_trigger_with_debug_off(db, settings):
    ensure_demo_trigger("sandbox-instance-token")
    settings.DEBUG = False

    [warning] = check_demo_trigger()

    assert isinstance(warning, Warning) and warning.id == "triggers.W001"


# --- 7. message ids unique across databases ---------------------------------------------


def test_executions_with_one_numeric_id_in_two_databases_send_under_different_ids(make_trigger):
    first, second = TriggerExecution(pk=1), TriggerExecution(pk=1)

    assert derive_message_id(message_seed(first)) != derive_message_id(message_seed(second))


# --- 9. secret-named keys spelled any way ---------------------------------------------------


@pytest.mark.parametrize("name", ["api-key", "x-api-key", "X-Api-Key", "Api Key", "API_KEY", "auth.token"])
def test_secret_names_with_separators_and_any_case_are_redacted(name):
    assert redact_secrets({"headers": {name: "s3cr3t-value"}}) == {"headers": {name: "[redacted]"}}


# --- 10. the old secret after a change, in every process -------------------------------


@pytest.mark.process
def test_with_redis_the_old_secret_stops_at_once_in_every_process(
    transactional_db, make_trigger, tmp_path, settings
):
    redis_url = "redis://127.0.0.1:6379/13"
    redis.Redis.from_url(redis_url).flushdb()
    # This process changes the secret, as the API would: with the same shared cache.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    server = ServerProcess(tmp_path / "server.log", workers=2, threads=2, REDIS_URL=redis_url)
    try:
        trigger = make_trigger()
        url = server.url + webhook_path(trigger)

        def post(n: int, secret: str) -> int:
            body = json.dumps({"idempotency_key": f"k{n}"}).encode()
            headers = {"Content-Type": "application/json", "X-Webhook-Signature": sign(body, secret)}
            return requests.post(url, data=body, headers=headers, timeout=10).status_code

        assert {post(n, SECRET) for n in range(10)} == {202}  # cached in both workers
        # The API's PATCH, as the attack did it, in this process (whose cache is Redis too).
        trigger.secret = "the-new-secret-0123456789"
        trigger.save()
        codes = [post(n, SECRET) for n in range(10, 30)]
    finally:
        server.stop()

    assert set(codes) == {401}, codes


# --- 11. replays that may send twice say so ------------------------------------------------


@pytest.fixture
def reaped(make_failed_execution):
    execution = make_failed_execution(category="unknown")
    TriggerExecution.objects.filter(pk=execution.pk).update(error=LOST_WORKER_ERROR)
    return execution


def test_a_dry_run_warns_that_a_reaped_execution_may_send_twice(reaped):
    code, output = run_command("replay_executions", "--dry-run", str(reaped.pk))

    assert code == 0
    assert "may send twice" in output


def test_the_api_answer_warns_that_a_reaped_execution_may_send_twice(reaped, replayer):
    api = APIClient()
    api.force_authenticate(replayer)

    answer = api.post(f"/api/triggers/executions/{reaped.pk}/replay").json()

    assert "may send twice" in answer["warning"]


def test_the_confirmation_page_warns_that_a_reaped_execution_may_send_twice(reaped, replayer, client):
    replayer.user_permissions.add(Permission.objects.get(codename="view_triggerexecution"))
    client.force_login(replayer)

    page = client.post(
        "/admin/triggers/triggerexecution/", {"action": "replay_selected", "_selected_action": [reaped.pk]}
    ).content.decode()

    assert "double-send-warning" in page and "may send twice" in page


@pytest.fixture
def delivered(make_failed_execution, client, make_trigger, settings):
    listener = make_trigger(source="whatsapp")  # the instance holding SECRET, which sent the message
    execution = make_failed_execution()
    SentMessage.objects.create(
        execution=execution,
        instance=listener.instance,
        message_id="3EB0DELIVERED000000000",
        recipient="x",
        sent_at=timezone.now(),
    )
    receipt = {
        **RECEIPT,
        "state": "Delivered",
        "data": {**RECEIPT["data"], "MessageIDs": ["3EB0DELIVERED000000000"]},
    }
    client.post(webhook_path(listener), receipt, content_type="application/json")
    return execution


def test_an_execution_whose_message_was_delivered_is_refused_for_replay(delivered, replayer):
    api = APIClient()
    api.force_authenticate(replayer)

    answer = api.post(f"/api/triggers/executions/{delivered.pk}/replay")
    forced = api.post(f"/api/triggers/executions/{delivered.pk}/replay?force=true")

    assert (answer.status_code, answer.json()["error"]) == (409, "already_delivered")
    assert forced.status_code == 403


def test_forcing_it_needs_its_own_permission(delivered, replayer):
    replayer.user_permissions.add(Permission.objects.get(codename="force_replay_triggerexecution"))
    api = APIClient()
    api.force_authenticate(replayer.__class__.objects.get(pk=replayer.pk))

    forced = api.post(f"/api/triggers/executions/{delivered.pk}/replay?force=true")

    assert forced.status_code == 202
    assert "sent 1 WhatsApp message" in forced.json()["warning"]


# --- 12, 13, 15. small ones ---------------------------------------------------------------


def test_the_production_steps_create_the_metrics_directory_before_any_manage_py():
    steps = (ROOT / "docs" / "production.md").read_text()

    assert steps.index('mkdir -p "$PROMETHEUS_MULTIPROC_DIR"') < steps.index("manage.py migrate")


@pytest.mark.parametrize("limit", ["-1", "0", "100000"])
def test_replay_limit_is_validated_and_capped(db, limit):
    with pytest.raises(CommandError, match="--limit must be between 1 and REPLAY_BULK_MAX"):
        run_command("replay_executions", "--dlq", "--limit", limit)


def test_two_idempotency_key_headers_are_a_400(post_event, make_trigger):
    # Servers join a repeated header with a comma (gunicorn, Django's test client alike).
    response = post_event(make_trigger(), {"a": 1}, headers={"Idempotency-Key": "A,B"})

    assert (response.status_code, response.json()["error"]) == (400, "invalid_idempotency_key")
    assert not TriggerExecution.objects.exists()


def test_the_deploy_check_is_quiet_without_the_demo_trigger(db, settings):
    settings.DEBUG = False

    assert check_demo_trigger() == []

"""Secrets never leak: a full run, then every log line and stored row is scanned for them.

The run goes through real processes: a gunicorn server (logging at DEBUG), task
workers sending through the gateway sandbox, the API for triggers, rotation and
replay. Each secret has exactly one place it may be stored (its own column);
anywhere else, in any log or any other column of any table, is a leak.
"""

import json

import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.support.processes import ServerProcess, run_worker
from tests.support.sandbox import SANDBOX_GLOBAL_KEY, SANDBOX_TOKEN
from tests.support.signing import sign, webhook_path
from triggers.models import Trigger, TriggerExecution

TRIGGER_SECRET = "trigger-secret-under-scan-0001"
NEXT_SECRET = "trigger-next-secret-under-scan-0002"
INSTANCE_TOKEN = "whatsapp-instance-token-under-scan-0003"
PAYLOAD_TOKEN = "token-inside-a-payload-under-scan-0004"
METRICS_TOKEN = "metrics-token-under-scan-0005"

# (table, column) where a credential lives by design; scanned nowhere else.
ALLOWED_HOMES = {
    ("triggers_trigger", "secret"),
    ("triggers_trigger", "next_secret"),
    ("whatsapp_instance", "token"),
    ("authtoken_token", "key"),
}


def stored_values() -> list[tuple[str, str, str]]:
    """Return (table, column, value as text) for every column of every row in the database."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            # Table names come from the database itself, quoted: nothing here is user input.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                found += [(table, column, str(value)) for column, value in zip(columns, row, strict=True)]
    return found


def test_a_full_run_leaves_no_secret_in_logs_or_stored_rows(
    transactional_db, django_user_model, sandbox, tmp_path
):
    # The inbox's number is an instance of the same server: the replies leave by it.
    sandbox.state.add_instance("inbox", INSTANCE_TOKEN)
    # No trigger cache: a rotation then applies in every gunicorn worker at once (with the
    # cache, other processes see it within TRIGGER_CACHE_SECONDS, as docs/sources.md says).
    server = ServerProcess(
        tmp_path / "server.log", LOG_LEVEL="DEBUG", METRICS_TOKEN=METRICS_TOKEN, TRIGGER_CACHE_SECONDS="0"
    )
    try:
        worker_logs = exercise_everything(server, django_user_model, sandbox)
    finally:
        server.stop()
    api_token = Token.objects.get().key
    secrets = [TRIGGER_SECRET, NEXT_SECRET, INSTANCE_TOKEN, PAYLOAD_TOKEN, METRICS_TOKEN, api_token]
    secrets += [SANDBOX_TOKEN, SANDBOX_GLOBAL_KEY]

    logs = server.log() + worker_logs
    assert "trigger_webhook" in logs and "whatsapp" in logs  # the logs are the real ones
    for secret in secrets:
        assert secret not in logs, f"{secret} is in the logs"
    rows = stored_values()
    for table, column, value in rows:
        if (table, column) in ALLOWED_HOMES:
            continue
        for secret in secrets:
            assert secret not in value, f"{secret} is stored in {table}.{column}"
    homes = {value for table, column, value in rows if (table, column) in ALLOWED_HOMES}
    assert {NEXT_SECRET, INSTANCE_TOKEN, api_token} <= homes  # and the scan did see them


def exercise_everything(server: ServerProcess, django_user_model, sandbox) -> str:
    """Run the whole journey through the server and workers; return the workers' output."""
    admin = django_user_model.objects.create_superuser("root", password="pw-root-under-scan-1")
    api = requests.Session()
    api.headers["Authorization"] = f"Token {Token.objects.create(user=admin).key}"

    notify = api.post(
        f"{server.url}/api/triggers/",
        json={
            "name": "Notify",
            "slug": "notify",
            "source": "custom",
            "secret": TRIGGER_SECRET,
            "action_type": "whatsapp",
            "action_payload": {"message": "Got {{ text }}"},
            "recipient": "5511900001111",
        },
        timeout=10,
    )
    assert notify.status_code == 201, notify.text
    inbox = api.post(
        f"{server.url}/api/triggers/",
        json={
            "name": "Inbox",
            "slug": "inbox",
            "source": "whatsapp",
            "secret": INSTANCE_TOKEN,
            "action_type": "whatsapp",
            "action_payload": {"message": "Hi {{ push_name }}"},
        },
        timeout=10,
    )
    assert inbox.status_code == 201, inbox.text
    notify_trigger, inbox_trigger = Trigger.objects.get(slug="notify"), Trigger.objects.get(slug="inbox")

    def post(trigger: Trigger, payload: dict, headers: dict) -> int:
        body = json.dumps(payload).encode()
        return requests.post(
            server.url + webhook_path(trigger),
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=10,
        ).status_code

    def signed(payload: dict, secret: str) -> dict:
        return {"X-Webhook-Signature": sign(json.dumps(payload).encode(), secret)}

    event = {
        "idempotency_key": "evt-1",
        "text": "hello",
        "auth": {"token": PAYLOAD_TOKEN},
        "apikey": PAYLOAD_TOKEN,
    }
    assert post(notify_trigger, event, signed(event, TRIGGER_SECRET)) == 202
    assert post(notify_trigger, event, signed(event, TRIGGER_SECRET)) == 200  # a duplicate
    assert post(notify_trigger, event, signed(event, NEXT_SECRET)) == 401  # not yet rotated
    assert post(notify_trigger, event, {"Authorization": f"Bearer {PAYLOAD_TOKEN}"}) == 401
    message = {
        "event": "Message",
        "data": {"Info": {"ID": "WA-1", "Sender": "5511988887777@s.whatsapp.net", "PushName": "Ana"}},
        "instanceToken": INSTANCE_TOKEN,
    }
    assert post(inbox_trigger, message, {}) == 202
    assert post(inbox_trigger, {**message, "instanceToken": PAYLOAD_TOKEN}, {}) == 401

    rotation = f"{server.url}/api/triggers/{notify_trigger.pk}/secret-rotation"
    assert api.post(rotation, json={"next_secret": NEXT_SECRET}, timeout=10).status_code == 201
    rotated = {"idempotency_key": "evt-2", "text": "after rotation"}
    assert post(notify_trigger, rotated, signed(rotated, NEXT_SECRET)) == 202
    assert api.post(f"{rotation}/finish", timeout=10).status_code == 200

    metrics = f"{server.url}/metrics"
    assert requests.get(metrics, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).ok
    wrong = requests.get(metrics, headers={"Authorization": f"Bearer {PAYLOAD_TOKEN}"}, timeout=10)
    assert wrong.status_code == 401

    # The first send fails transiently three times: it lands in the DLQ and is replayed.
    sandbox.fail_next(*[{"status": 502, "error": "bad gateway"}] * 3)
    worker_logs = run_worker(LOG_LEVEL="DEBUG", **sandbox.env())
    [dead] = TriggerExecution.objects.dead_letter()
    replayed = api.post(f"{server.url}/api/triggers/executions/{dead.pk}/replay", timeout=10)
    assert replayed.status_code == 202, replayed.text
    worker_logs += run_worker(LOG_LEVEL="DEBUG", **sandbox.env())

    assert len(sandbox.messages()) == 3  # evt-1 (replayed), the WhatsApp message, evt-2
    return worker_logs

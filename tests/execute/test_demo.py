"""The demo that `make run` prints ends as a message in the sandbox, and never runs against a real gateway."""

import json
import shlex

from triggers.execute import executor
from triggers.execute.demo import (
    DEMO_PUBLIC_ID,
    connect_sandbox,
    demo_curl,
    disable_demo_trigger,
    ensure_demo_trigger,
)
from triggers.models import Trigger

TOKEN = "sandbox-instance-token-for-tests"


def test_the_printed_demo_event_ends_as_a_message_in_the_sandbox(db, sandbox, client):
    ensure_demo_trigger(TOKEN)
    curl = shlex.split(demo_curl("http://testserver", TOKEN))
    body = curl[curl.index("-d") + 1]

    response = client.post(
        f"/api/triggers/{DEMO_PUBLIC_ID}/webhook", json.loads(body), content_type="application/json"
    )
    executor.execute(response.json()["execution_id"])

    assert response.status_code == 202
    assert sandbox.messages()[0]["body"]["text"] == "Hi Ana! You said: hello"


def test_the_demo_ignores_our_own_messages(db, sandbox, client):
    ensure_demo_trigger(TOKEN)
    curl = shlex.split(demo_curl("http://testserver", TOKEN))
    event = json.loads(curl[curl.index("-d") + 1])
    event["data"]["Info"]["IsFromMe"] = True

    response = client.post(f"/api/triggers/{DEMO_PUBLIC_ID}/webhook", event, content_type="application/json")

    assert response.json() == {"status": "ignored", "reason": "own_message"}


def test_the_demo_trigger_is_disabled_when_a_real_gateway_is_used(db):
    ensure_demo_trigger(TOKEN)

    assert disable_demo_trigger() is True
    assert Trigger.objects.get(public_id=DEMO_PUBLIC_ID).enabled is False
    assert disable_demo_trigger() is False


def test_the_sandbox_is_connected_to_the_demo_trigger_for_messages_echoes_and_receipts(db, sandbox):
    result = connect_sandbox(sandbox.url, TOKEN, "http://127.0.0.1:8000")

    assert result.ok, result.error
    assert sandbox.state.first.webhook_url == f"http://127.0.0.1:8000/api/triggers/{DEMO_PUBLIC_ID}/webhook"
    assert sandbox.state.first.subscriptions == ["MESSAGE", "SEND_MESSAGE", "READ_RECEIPT", "CONNECTION"]

"""Every sender's own event id becomes the idempotency key, with realistic payloads."""

import hashlib
import json
import time

from tests.support.signing import SECRET, signature_headers, webhook_path
from triggers.models import TriggerExecution

EVOLUTION_GO_MESSAGE = {
    "event": "Message",
    "data": {
        "Info": {
            "ID": "3EB0C127D5D1A7F6B4E2",
            "Chat": "5511999999999@s.whatsapp.net",
            "Sender": "5511999999999@s.whatsapp.net",
            "IsFromMe": False,
            "PushName": "Ana",
            "Timestamp": "2026-11-29T02:00:00Z",
            "Type": "text",
        },
        "Message": {"conversation": "/status"},
    },
    "instanceToken": SECRET,
    "instanceId": "9f1c2d3e-0000-4000-8000-000000000001",
    "instanceName": "main",
}

EVOLUTION_API_V2_UPSERT = {
    "event": "messages.upsert",
    "instance": "main",
    "data": {
        "key": {"id": "BAE5F1C0A1B2C3D4", "remoteJid": "5511988887777@s.whatsapp.net", "fromMe": False},
        "pushName": "Bruno",
        "message": {"extendedTextMessage": {"text": "oi"}},
        "messageType": "extendedTextMessage",
        "messageTimestamp": 1764381600,
    },
    "destination": "https://example.test/webhook",
    "date_time": "2026-11-29T02:00:00.000Z",
    "sender": "5511900000000@s.whatsapp.net",
    "apikey": SECRET,
}

N8N_BODY = {"data": {"idempotency_key": "n8n-exec-4711", "customer": "ACME", "phone": "5511977776666"}}

GITHUB_PUSH = {
    "ref": "refs/heads/main",
    "after": "f1d2d2f924e986ac86fdf7b36c94bcdf32beec15",
    "repository": {"full_name": "evonexus/app", "id": 1296269},
    "sender": {"login": "octocat"},
    "commits": [{"id": "f1d2d2f9", "message": "Fix the build"}],
}

STRIPE_EVENT = {
    "id": "evt_1QaB2cD3eF4gH5iJ",
    "object": "event",
    "type": "payment_intent.succeeded",
    "livemode": False,
    "data": {"object": {"id": "pi_3QaB2c", "object": "payment_intent", "amount": 2000}},
}


def linear_event():
    return {
        "action": "create",
        "type": "Issue",
        "data": {"id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9", "title": "Broken checkout"},
        "webhookTimestamp": int(time.time() * 1000),
        "webhookId": "linear-webhook-0001",
    }


def post(client, trigger, payload, headers=None, sign_as=None):
    body = json.dumps(payload).encode()
    all_headers = signature_headers(sign_as or trigger.source, body)
    all_headers.update(headers or {})
    return client.post(webhook_path(trigger), data=body, content_type="application/json", headers=all_headers)


def stored_key(client, trigger, payload, **kwargs):
    response = post(client, trigger, payload, **kwargs)
    assert response.status_code == 202, response.json()
    return TriggerExecution.objects.get(pk=response.json()["execution_id"]).idempotency_key


def test_it_keys_an_evolution_go_message_by_its_whatsapp_id(client, make_trigger):
    trigger = make_trigger(source="whatsapp")

    assert stored_key(client, trigger, EVOLUTION_GO_MESSAGE) == "3EB0C127D5D1A7F6B4E2"
    assert post(client, trigger, EVOLUTION_GO_MESSAGE).json()["status"] == "duplicate"


def test_it_keys_an_evolution_api_v2_upsert_by_data_key_id(client, make_trigger):
    trigger = make_trigger(source="whatsapp")

    assert stored_key(client, trigger, EVOLUTION_API_V2_UPSERT) == "BAE5F1C0A1B2C3D4"


def test_it_keys_an_n8n_body_by_data_idempotency_key(client, make_trigger):
    trigger = make_trigger(source="custom")

    assert stored_key(client, trigger, N8N_BODY) == "n8n-exec-4711"


def signed_body_key(payload) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def test_it_keys_a_github_push_by_its_signed_body_since_the_delivery_header_is_unsigned(client, make_trigger):
    trigger = make_trigger(source="github")
    headers = {"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event": "push"}

    assert stored_key(client, trigger, GITHUB_PUSH, headers=headers) == signed_body_key(GITHUB_PUSH)


def test_it_keys_a_stripe_event_by_its_event_id(client, make_trigger):
    trigger = make_trigger(source="stripe")

    assert stored_key(client, trigger, STRIPE_EVENT) == "evt_1QaB2cD3eF4gH5iJ"


def test_it_keys_a_linear_event_by_its_signed_body_as_its_delivery_header_is_unsigned(client, make_trigger):
    trigger = make_trigger(source="linear")
    headers = {"Linear-Delivery": "c9e1f5a0-0b1d-4f7e-9a55-linear-delivery"}
    event = linear_event()

    assert stored_key(client, trigger, event, headers=headers) == signed_body_key(event)


def test_a_linear_webhook_id_names_the_webhook_not_the_delivery_and_is_never_a_key(client, make_trigger):
    trigger = make_trigger(source="linear")
    event = linear_event()

    key = stored_key(client, trigger, event)

    assert key != event["webhookId"] and key == signed_body_key(event)  # the signed body keys it


def test_it_keys_a_standard_webhooks_delivery_by_its_webhook_id(client, make_trigger):
    trigger = make_trigger(source="custom")

    assert stored_key(client, trigger, {"type": "invoice.paid"}, sign_as="standard") == "msg_2Kd8f0aZ"


def test_a_signed_key_wins_over_the_unsigned_idempotency_key_header(client, make_trigger):
    trigger = make_trigger(source="stripe")

    key = stored_key(client, trigger, STRIPE_EVENT, headers={"Idempotency-Key": "client-chosen-1"})

    assert key == "evt_1QaB2cD3eF4gH5iJ"


def test_the_idempotency_key_header_is_the_key_when_nothing_is_signed(client, make_trigger):
    trigger = make_trigger()
    headers = {"Authorization": f"Bearer {SECRET}", "Idempotency-Key": "client-chosen-1"}
    body = json.dumps({"event": "order.paid"}).encode()

    response = client.post(webhook_path(trigger), data=body, content_type="application/json", headers=headers)

    execution = TriggerExecution.objects.get(pk=response.json()["execution_id"])
    assert execution.idempotency_key == "client-chosen-1"


def test_it_uses_the_triggers_own_key_paths_and_turns_numbers_into_strings(client, make_trigger):
    trigger = make_trigger(idempotency_key_paths=["data.order.id", "data.fallback"])
    payload = {"data": {"order": {"id": 12345}, "idempotency_key": "ignored-when-paths-are-set"}}

    assert stored_key(client, trigger, payload) == "12345"


def test_it_falls_back_along_the_triggers_key_paths(client, make_trigger):
    trigger = make_trigger(idempotency_key_paths=["data.order.id", "data.fallback"])

    assert stored_key(client, trigger, {"data": {"fallback": "fb-1"}}) == "fb-1"


def test_it_hashes_a_300_character_key_so_long_keys_never_collide(client, make_trigger):
    trigger = make_trigger()
    shared_prefix = "k" * 255
    first, second = shared_prefix + "a" * 45, shared_prefix + "b" * 45

    first_key = stored_key(client, trigger, {"idempotency_key": first})
    second_key = stored_key(client, trigger, {"idempotency_key": second})

    assert first_key == hashlib.sha256(first.encode()).hexdigest()
    assert second_key == hashlib.sha256(second.encode()).hexdigest()
    assert post(client, trigger, {"idempotency_key": first}).json()["status"] == "duplicate"


def test_it_stores_the_parsed_event_with_the_senders_fields(client, make_trigger):
    trigger = make_trigger(source="whatsapp")

    response = post(client, trigger, EVOLUTION_GO_MESSAGE)

    event = TriggerExecution.objects.get(pk=response.json()["execution_id"]).event_data
    assert event["source"] == "whatsapp"
    assert event["event_type"] == "Message"
    assert event["sender"] == "5511999999999@s.whatsapp.net"
    assert event["text"] == "/status"
    assert event["data"]["Info"]["ID"] == "3EB0C127D5D1A7F6B4E2"


def test_it_never_stores_the_instance_token_or_other_secrets(client, make_trigger):
    trigger = make_trigger(source="whatsapp")
    payload = {
        **EVOLUTION_GO_MESSAGE,
        "data": {**EVOLUTION_GO_MESSAGE["data"], "nested": [{"password": "p4ss"}]},
    }

    response = post(client, trigger, payload)

    stored = json.dumps(TriggerExecution.objects.get(pk=response.json()["execution_id"]).event_data)
    assert SECRET not in stored
    assert "p4ss" not in stored

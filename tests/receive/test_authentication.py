"""Each source authenticates its way; wrong, missing and stale proofs get 401 and no row."""

import json
import time

import pytest

from tests.support.signing import SECRET, signature_headers, webhook_path
from triggers.models import TriggerExecution

BODY = json.dumps({"id": "evt_1", "type": "ping", "data": {"idempotency_key": "sig-1"}}).encode()


def post(client, trigger, headers, body=BODY):
    return client.post(webhook_path(trigger), data=body, content_type="application/json", headers=headers)


# (trigger source, how the request is signed): each sender's own scheme, and the
# generic schemes that custom, Telegram and Discord triggers take.
OWN_SCHEMES = [
    ("github", "github"),
    ("stripe", "stripe"),
    ("linear", "linear"),
    ("custom", "custom"),
    ("custom", "standard"),
]
GENERIC_SCHEMES = [("telegram", "custom"), ("discord", "standard")]


@pytest.mark.parametrize(("source", "sign_as"), OWN_SCHEMES + GENERIC_SCHEMES)
def test_it_accepts_a_valid_signature(client, make_trigger, source, sign_as):
    trigger = make_trigger(source=source)

    response = post(client, trigger, signature_headers(sign_as, BODY))

    assert response.status_code == 202, response.json()


@pytest.mark.parametrize(("source", "sign_as"), OWN_SCHEMES)
def test_it_refuses_a_signature_made_with_another_secret(client, make_trigger, source, sign_as):
    trigger = make_trigger(source=source)

    response = post(client, trigger, signature_headers(sign_as, BODY, secret="another-trigger-secret"))

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert not TriggerExecution.objects.exists()


@pytest.mark.parametrize(
    ("source", "sign_as"), [("github", "github"), ("linear", "linear"), ("custom", "custom")]
)
def test_it_refuses_a_signature_over_a_different_body(client, make_trigger, source, sign_as):
    trigger = make_trigger(source=source)
    headers = signature_headers(sign_as, BODY)

    response = post(client, trigger, headers, body=BODY.replace(b"sig-1", b"sig-2"))

    assert response.status_code == 401
    assert not TriggerExecution.objects.exists()


@pytest.mark.parametrize(
    "source", ["github", "stripe", "linear", "custom", "telegram", "discord", "whatsapp"]
)
def test_it_refuses_a_request_without_any_proof(client, make_trigger, source):
    trigger = make_trigger(source=source)

    response = post(client, trigger, {})

    assert response.status_code == 401
    assert response.json()["message"]
    assert not TriggerExecution.objects.exists()


@pytest.mark.parametrize("sign_as", ["stripe", "standard"])
def test_it_refuses_a_stale_timestamped_signature(client, make_trigger, sign_as):
    trigger = make_trigger(source="stripe" if sign_as == "stripe" else "custom")

    response = post(client, trigger, signature_headers(sign_as, BODY, at=time.time() - 301))

    assert response.status_code == 401
    assert "tolerance" in response.json()["message"]
    assert not TriggerExecution.objects.exists()


def test_it_accepts_a_stripe_signature_within_the_tolerance(client, make_trigger):
    trigger = make_trigger(source="stripe")

    response = post(client, trigger, signature_headers("stripe", BODY, at=time.time() - 290))

    assert response.status_code == 202


def test_it_refuses_a_stale_linear_webhook_timestamp(client, make_trigger):
    trigger = make_trigger(source="linear")
    body = json.dumps(
        {"type": "Issue", "action": "create", "webhookTimestamp": int((time.time() - 400) * 1000)}
    )

    response = post(client, trigger, signature_headers("linear", body.encode()), body=body.encode())

    assert response.status_code == 401


def test_it_accepts_a_bearer_token_equal_to_the_secret(client, make_trigger):
    trigger = make_trigger(source="custom")

    assert post(client, trigger, {"Authorization": f"Bearer {SECRET}"}).status_code == 202
    assert post(client, trigger, {"Authorization": "Bearer wrong"}).status_code == 401


def test_it_accepts_a_sha256_prefixed_custom_signature(client, make_trigger):
    trigger = make_trigger(source="custom")
    headers = {"X-Webhook-Signature": "sha256=" + signature_headers("custom", BODY)["X-Webhook-Signature"]}

    assert post(client, trigger, headers).status_code == 202


def test_it_accepts_telegrams_secret_token_header(client, make_trigger):
    trigger = make_trigger(source="telegram")
    body = json.dumps({"update_id": 1, "message": {"chat": {"id": 42}, "text": "/start"}}).encode()

    response = post(client, trigger, {"X-Telegram-Bot-Api-Secret-Token": SECRET}, body=body)

    assert response.status_code == 202


@pytest.mark.parametrize("field", ["instanceToken", "apikey"])
def test_it_authenticates_whatsapp_events_by_the_token_in_the_payload(client, make_trigger, field):
    trigger = make_trigger(source="whatsapp")
    good = json.dumps({"event": "Message", "data": {"Info": {"ID": "A1"}}, field: SECRET}).encode()
    bad = json.dumps({"event": "Message", "data": {"Info": {"ID": "A2"}}, field: "not-it"}).encode()

    assert post(client, trigger, {}, body=good).status_code == 202
    assert post(client, trigger, {}, body=bad).status_code == 401
    assert TriggerExecution.objects.count() == 1


def test_it_refuses_another_triggers_valid_signature(client, make_trigger):
    mine = make_trigger()
    theirs = make_trigger(secret="the-other-triggers-secret-9876")

    response = post(client, mine, signature_headers("custom", BODY, secret=theirs.secret))

    assert response.status_code == 401

"""Custom senders: Standard Webhooks, X-Webhook-Signature, Telegram's header, a bearer token."""

import pytest

from tests.support.signing import SECRET, signature_headers
from triggers.sources import custom
from triggers.sources.base import NOTHING_SIGNED, SIGNED_BODY, AuthenticationFailed, lower_case_headers

BODY = b'{"event": "order.created"}'
NOW = 1_700_000_000


def verify(headers: dict, body: bytes = BODY):
    lowered = lower_case_headers(headers)
    return custom.verify(secrets=[SECRET], headers=lowered, body=body, now=NOW, tolerance=300)


def test_standard_webhooks_sign_the_body_and_the_webhook_id():
    proof = verify(signature_headers("standard", BODY, at=NOW))

    assert proof.body_signed and proof.signed_headers == {"webhook-id"}


def test_x_webhook_signature_signs_the_body_with_or_without_its_prefix():
    signature = signature_headers("custom", BODY)["X-Webhook-Signature"]

    assert verify({"X-Webhook-Signature": signature}) == SIGNED_BODY
    assert verify({"X-Webhook-Signature": "sha256=" + signature}) == SIGNED_BODY


def test_a_bearer_token_or_telegrams_header_proves_the_sender_but_signs_nothing():
    assert verify({"Authorization": f"Bearer {SECRET}"}) == NOTHING_SIGNED
    assert verify({"X-Telegram-Bot-Api-Secret-Token": SECRET}) == NOTHING_SIGNED


def test_no_proof_at_all_names_the_ways_to_give_one():
    with pytest.raises(AuthenticationFailed, match="X-Webhook-Signature, Standard Webhooks"):
        verify({})


def test_the_event_type_is_the_first_of_event_event_type_and_type():
    assert custom.parse({}, {"type": "c", "event_type": "b"})["event_type"] == "b"
    assert custom.parse({}, {})["event_type"] == "webhook"


def test_its_own_key_is_the_webhook_id_header():
    assert custom.native_keys({"webhook-id": "m-1"}, {}) == [("webhook-id", "m-1")]

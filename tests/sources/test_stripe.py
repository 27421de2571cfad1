"""Stripe's record: a timestamped signature, the event id in the body."""

import json

import pytest

from tests.support.signing import SECRET, signature_headers
from triggers.sources import stripe
from triggers.sources.base import SIGNED_BODY, AuthenticationFailed, lower_case_headers

BODY = b'{"id": "evt_1", "type": "invoice.paid", "data": {"object": {"object": "invoice", "id": "in_1"}}}'
NOW = 1_700_000_000


def verify(headers: dict, body: bytes = BODY, now: float = NOW):
    lowered = lower_case_headers(headers)
    return stripe.verify(secrets=[SECRET], headers=lowered, body=body, now=now, tolerance=300)


def test_a_fresh_signature_proves_the_body():
    assert verify(signature_headers("stripe", BODY, at=NOW)) == SIGNED_BODY


def test_a_signature_older_than_the_tolerance_is_refused():
    with pytest.raises(AuthenticationFailed, match="tolerance"):
        verify(signature_headers("stripe", BODY, at=NOW - 301))


def test_a_header_with_two_timestamps_is_malformed():
    with pytest.raises(AuthenticationFailed, match="malformed"):
        verify({"Stripe-Signature": f"t={NOW},t={NOW},v1=00"})


def test_the_event_id_in_the_body_is_its_key_and_the_object_is_parsed():
    payload = json.loads(BODY)

    assert stripe.native_keys({}, payload) == [(None, "evt_1")]
    assert stripe.parse({}, payload)["object_id"] == "in_1"

"""Linear's record: a body signature, a signed timestamp inside the body, an unsigned delivery id."""

import json

import pytest

from tests.support.signing import SECRET, signature_headers
from triggers.sources import linear
from triggers.sources.base import SIGNED_BODY, AuthenticationFailed, lower_case_headers

NOW = 1_700_000_000


def verify(payload: dict, now: float = NOW):
    body = json.dumps(payload).encode()
    headers = lower_case_headers(signature_headers("linear", body))
    return linear.verify(
        secrets=[SECRET], headers=headers, body=body, payload=payload, now=now, tolerance=300
    )


def test_a_signed_body_with_a_fresh_timestamp_is_proven():
    assert verify({"type": "Issue", "webhookTimestamp": NOW * 1000}) == SIGNED_BODY


def test_a_stale_signed_timestamp_is_refused():
    with pytest.raises(AuthenticationFailed, match="tolerance"):
        verify({"type": "Issue", "webhookTimestamp": (NOW - 600) * 1000})


def test_the_event_type_joins_type_and_action():
    assert linear.parse({}, {"type": "Issue", "action": "create"})["event_type"] == "Issue.create"


def test_the_webhook_id_is_never_a_key_and_the_delivery_header_is_unsigned():
    keys = linear.native_keys({"linear-delivery": "d-1"}, {"webhookId": "w-1"})

    assert keys == [("linear-delivery", "d-1")]

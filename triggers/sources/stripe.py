"""Stripe: `Stripe-Signature` over a timestamp and the body; the event id is in the body."""

from collections.abc import Iterable
from typing import Any

from triggers.sources.base import (
    SIGNED_BODY,
    AuthenticationFailed,
    NativeKeys,
    Proof,
    Sender,
    check_timestamp,
    hmac_hex,
    lookup_path,
    same,
)


def verify(secrets: Iterable[str], headers: dict, body: bytes, now: float, tolerance: int, **_: Any) -> Proof:
    header = headers.get("stripe-signature", "")
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [value for name, value in parts if name.strip() == "t"]
    signatures = [value.strip() for name, value in parts if name.strip() == "v1"]
    if len(timestamps) != 1 or not signatures:
        raise AuthenticationFailed("missing or malformed Stripe-Signature header")
    timestamp = timestamps[0].strip()
    check_timestamp(timestamp, now, tolerance)
    signed = timestamp.encode() + b"." + body
    expected = [hmac_hex(s, signed) for s in secrets]
    if not any(same(given, want) for given in signatures for want in expected):
        raise AuthenticationFailed("Stripe-Signature does not match")
    return SIGNED_BODY


def parse(headers: dict, payload: dict) -> dict:
    return {
        "event_type": payload.get("type"),
        "object_type": lookup_path(payload, "data.object.object"),
        "object_id": lookup_path(payload, "data.object.id"),
        "data": payload,
    }


def native_keys(headers: dict, payload: dict) -> NativeKeys:
    return [(None, payload.get("id"))]


SENDER = Sender(verify, parse, native_keys)

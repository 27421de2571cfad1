"""Linear: `Linear-Signature` over the body, which carries a signed millisecond timestamp."""

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
    same,
)


def verify(
    secrets: Iterable[str], headers: dict, body: bytes, payload: dict, now: float, tolerance: int, **_: Any
) -> Proof:
    given = headers.get("linear-signature", "")
    if not given:
        raise AuthenticationFailed("missing Linear-Signature header")
    if not any(same(given, hmac_hex(s, body)) for s in secrets):
        raise AuthenticationFailed("Linear-Signature does not match")
    # Linear signs a millisecond timestamp into the body; refuse stale replays of it.
    sent_ms = payload.get("webhookTimestamp")
    if isinstance(sent_ms, int) and not isinstance(sent_ms, bool):
        check_timestamp(str(sent_ms // 1000), now, tolerance)
    return SIGNED_BODY


def parse(headers: dict, payload: dict) -> dict:
    kind, action = payload.get("type"), payload.get("action")
    return {
        "event_type": f"{kind}.{action}" if kind and action else kind or action,
        "type": kind,
        "action": action,
        "data": payload,
    }


def native_keys(headers: dict, payload: dict) -> NativeKeys:
    # The body's webhookId names the webhook, not the delivery: never a key.
    return [("linear-delivery", headers.get("linear-delivery"))]


SENDER = Sender(verify, parse, native_keys)

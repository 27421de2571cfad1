"""GitHub: `X-Hub-Signature-256` over the body; the delivery id is an unsigned header."""

from collections.abc import Iterable
from typing import Any

from triggers.sources.base import (
    SIGNED_BODY,
    AuthenticationFailed,
    NativeKeys,
    Proof,
    Sender,
    hmac_hex,
    lookup_path,
    same,
)


def verify(secrets: Iterable[str], headers: dict, body: bytes, **_: Any) -> Proof:
    given = headers.get("x-hub-signature-256", "")
    if not given.startswith("sha256="):
        raise AuthenticationFailed("missing X-Hub-Signature-256 header")
    if not any(same(given, "sha256=" + hmac_hex(s, body)) for s in secrets):
        raise AuthenticationFailed("X-Hub-Signature-256 does not match")
    return SIGNED_BODY


def parse(headers: dict, payload: dict) -> dict:
    ref = payload.get("ref")
    return {
        "event_type": headers.get("x-github-event") or "unknown",
        "repository": lookup_path(payload, "repository.full_name"),
        "branch": ref.removeprefix("refs/heads/") if isinstance(ref, str) else None,
        "sender": lookup_path(payload, "sender.login"),
        "data": payload,
    }


def native_keys(headers: dict, payload: dict) -> NativeKeys:
    return [("x-github-delivery", headers.get("x-github-delivery"))]


SENDER = Sender(verify, parse, native_keys)

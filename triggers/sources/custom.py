"""Anything else (N8N, scripts, Standard Webhooks senders): the ways a sender can prove itself.

In order of strength: Standard Webhooks (`webhook-id`, `webhook-timestamp` and
`webhook-signature`, which cover the body and the id), `X-Webhook-Signature`
(an HMAC of the body), Telegram's secret-token header, or a bearer token.
Telegram and Discord triggers prove themselves the same ways.
"""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from triggers.sources.base import (
    NOTHING_SIGNED,
    SIGNED_BODY,
    AuthenticationFailed,
    NativeKeys,
    Proof,
    Sender,
    check_timestamp,
    hmac_hex,
    same,
)


def _standard_webhooks_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def _verify_standard_webhooks(
    secrets: Iterable[str], headers: dict, body: bytes, now: float, tolerance: int
) -> Proof:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp:
        raise AuthenticationFailed("missing webhook-id or webhook-timestamp header")
    check_timestamp(timestamp, now, tolerance)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    given = [
        entry.split(",", 1)[1]
        for entry in headers.get("webhook-signature", "").split()
        if entry.startswith("v1,")
    ]
    for secret in secrets:
        digest = hmac.new(_standard_webhooks_key(secret), signed, hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode()
        if any(same(signature, expected) for signature in given):
            return Proof(body_signed=True, signed_headers=frozenset({"webhook-id"}))
    raise AuthenticationFailed("webhook-signature does not match")


def verify(secrets: Iterable[str], headers: dict, body: bytes, now: float, tolerance: int, **_: Any) -> Proof:
    secrets = list(secrets)
    if "webhook-signature" in headers:
        return _verify_standard_webhooks(secrets, headers, body, now, tolerance)
    if "x-webhook-signature" in headers:
        given = headers["x-webhook-signature"].strip().removeprefix("sha256=")
        if any(same(given, hmac_hex(s, body)) for s in secrets):
            return SIGNED_BODY
        raise AuthenticationFailed("X-Webhook-Signature does not match")
    # Telegram's own way: the secret_token given to setWebhook comes back in this header.
    if "x-telegram-bot-api-secret-token" in headers:
        given = headers["x-telegram-bot-api-secret-token"]
        if any(same(given, s) for s in secrets):
            return NOTHING_SIGNED
        raise AuthenticationFailed("X-Telegram-Bot-Api-Secret-Token does not match")
    authorization = headers.get("authorization", "")
    if authorization.startswith("Bearer "):
        if any(same(authorization.removeprefix("Bearer ").strip(), s) for s in secrets):
            return NOTHING_SIGNED
        raise AuthenticationFailed("bearer token does not match")
    raise AuthenticationFailed(
        "missing signature: send X-Webhook-Signature, Standard Webhooks headers "
        "or Authorization: Bearer <secret>"
    )


def parse(headers: dict, payload: dict) -> dict:
    event_type = payload.get("event") or payload.get("event_type") or payload.get("type")
    return {"event_type": event_type or "webhook", "data": payload}


def native_keys(headers: dict, payload: dict) -> NativeKeys:
    return [("webhook-id", headers.get("webhook-id"))]


SENDER = Sender(verify, parse, native_keys)

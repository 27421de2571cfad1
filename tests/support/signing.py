"""Requests as each sender signs them."""

import base64
import hashlib
import hmac
import time

from triggers.models import Trigger

SECRET = "test-trigger-secret-0123456789abcdef"


def sign(body: bytes, secret: str = SECRET) -> str:
    """Return the hex HMAC-SHA256 of `body`, as X-Webhook-Signature carries it."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_headers(source: str, body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict:
    """Return the headers with which `source` would sign `body` at time `at` (default now)."""
    timestamp = str(int(time.time() if at is None else at))
    if source == "github":
        return {"X-Hub-Signature-256": "sha256=" + sign(body, secret)}
    if source == "stripe":
        return {"Stripe-Signature": f"t={timestamp},v1={sign(timestamp.encode() + b'.' + body, secret)}"}
    if source == "linear":
        return {"Linear-Signature": sign(body, secret)}
    if source == "standard":
        msg_id = "msg_2Kd8f0aZ"
        digest = hmac.new(secret.encode(), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(digest.digest()).decode(),
        }
    return {"X-Webhook-Signature": sign(body, secret)}


def webhook_path(trigger: Trigger) -> str:
    """Return the path senders POST the trigger's events to."""
    return f"/api/triggers/{trigger.public_id}/webhook"

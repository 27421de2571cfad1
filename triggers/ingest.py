"""Take one webhook delivery in: the whole ingest pipeline, and the dedup write path.

`receive` is the one service behind the webhook URL: find the trigger, check
the request's size and type, parse and authenticate it, filter, find the
idempotency key and record the event exactly once (`triggers.recording`). It
answers an `Outcome`; the view only turns that into HTTP.
"""

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError

from triggers import sources
from triggers.choices import Source
from triggers.executor import resume_sends
from triggers.inbound_media import MediaStorageUnavailable, move_media_out
from triggers.lookup import forget_trigger, get_trigger
from triggers.models import Trigger
from triggers.receipts import apply_receipt
from triggers.recording import record_event


@dataclass(frozen=True)
class Delivery:
    """One POST to a webhook URL, as the pipeline needs it (nothing of HTTP frameworks)."""

    headers: Mapping[str, str]
    content_type: str
    content_length: str  # the header as sent; "" when absent
    chunked: bool
    read_body: Callable[[], bytes]  # called only once size and type are acceptable


# What a delivery can come to. Rejections and ignores carry a `reason`.
ACCEPTED, DUPLICATE, IGNORED, REJECTED, RECEIPT = "accepted", "duplicate", "ignored", "rejected", "receipt"


@dataclass(frozen=True)
class Outcome:
    """What `receive` did with a delivery."""

    status: str
    reason: str = ""
    message: str = ""
    trigger: Trigger | None = None
    execution_id: int | None = None
    key: str | None = None
    matched: int = 0  # receipts: how many of the messages it names are ours


def _rejected(trigger: Trigger | None, reason: str, message: str) -> Outcome:
    return Outcome(REJECTED, reason, message, trigger)


def _is_json_content_type(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def max_body_bytes(trigger: Trigger) -> int:
    """Return the largest body `trigger` accepts: WhatsApp events may carry a whole file."""
    if trigger.source == Source.WHATSAPP:
        return settings.WHATSAPP_WEBHOOK_MAX_BODY_BYTES
    return settings.WEBHOOK_MAX_BODY_BYTES


def _check_envelope(
    delivery: Delivery, headers: sources.LowerCaseHeaders, max_bytes: int
) -> tuple[str, str] | None:
    """Return `(reason, message)` if the request cannot be read as an event, else `None`."""
    if delivery.chunked:
        # A WSGI app reads a body only up to its Content-Length; unstated, it reads nothing.
        return "length_required", "Content-Length is required."
    length = delivery.content_length or "0"
    if not length.isdigit():
        return "invalid_content_length", "Content-Length must be a number."
    if int(length) > max_bytes:
        return "body_too_large", f"Request body exceeds {max_bytes} bytes."
    if not _is_json_content_type(delivery.content_type):
        return "unsupported_media_type", "Content-Type must be application/json."
    if "," in headers.get("idempotency-key", ""):
        # Two headers arrive joined by a comma; either could be meant: refuse rather than guess.
        return "invalid_idempotency_key", "Send one Idempotency-Key header, with one value (no commas)."
    return None


@dataclass(frozen=True)
class Authenticated:
    """A body that proved where it comes from: parsed, what its proof covers, and its digest if signed."""

    payload: dict
    proof: sources.Proof
    body_sha256: str


def _authenticated(
    trigger: Trigger, delivery: Delivery, headers: sources.LowerCaseHeaders, now: float
) -> Authenticated:
    """Return the body parsed, once it proves it comes from the trigger's sender.

    Raises `InvalidPayload` or `AuthenticationFailed`. The raw body lives only
    in here: a large one is freed before anything else is done with the event.
    """
    body = delivery.read_body()
    payload = sources.parse_json_body(body, max_depth=settings.WEBHOOK_MAX_JSON_DEPTH)
    proof = sources.verify_request(
        trigger.source,
        trigger.signing_secrets(),
        headers,
        body,
        payload,
        now=now,
        tolerance=settings.WEBHOOK_SIGNATURE_TOLERANCE_SECONDS,
    )
    # A signed body stops a replayed copy even when its only key is an unsigned header.
    digest = hashlib.sha256(body).hexdigest() if proof.body_signed else ""
    return Authenticated(payload, proof, digest)


def receive(public_id: str, delivery: Delivery, *, now: float | None = None) -> Outcome:
    """Return what became of one delivery to the webhook URL of `public_id`.

    Rejected (nothing stored): no such trigger (`not_found`), a chunked body
    (`length_required`), a bad or too large Content-Length, a content type
    other than JSON, a body that is not a storable JSON object
    (`invalid_payload`) or that does not authenticate (`unauthorized`), a file
    that media storage could not take (`media_storage_unavailable`: the sender
    tries again).
    A WhatsApp delivery receipt updates the messages we sent (`receipt`, with
    how many it `matched`) and runs nothing, whatever the trigger's filter. A
    `Connected` event lets the gateway breaker try again, and is ignored
    (`connection_event`) unless the filter asks for `"event_type": "Connected"`.
    Ignored (nothing stored): a disabled trigger, a WhatsApp message the
    instance sent itself (`own_message`, unless the trigger's filter asks for
    `"from_me": true`), an event the filter refuses.
    Otherwise the event is recorded (`accepted`) or found to be a `duplicate`;
    a file it carries is moved out of it first (`triggers.inbound_media`).
    """
    trigger = get_trigger(public_id)
    if trigger is None:
        return _rejected(None, "not_found", "No trigger with this webhook URL.")
    headers = sources.lower_case_headers(delivery.headers)
    if refusal := _check_envelope(delivery, headers, max_body_bytes(trigger)):
        return _rejected(trigger, *refusal)
    try:
        authenticated = _authenticated(trigger, delivery, headers, time.time() if now is None else now)
    except sources.InvalidPayload as exc:
        return _rejected(trigger, "invalid_payload", str(exc))
    except sources.AuthenticationFailed as exc:
        return _rejected(trigger, "unauthorized", str(exc))
    payload = authenticated.payload
    event = sources.parse_event(trigger.source, headers, payload)
    if sources.is_receipt(event):
        ids = event.get("message_ids")
        matched = apply_receipt(ids if isinstance(ids, list) else [], str(event.get("state")))
        return Outcome(RECEIPT, trigger=trigger, matched=matched)
    if sources.is_connected(event):
        # The instance is back: the gateway breaker, if open, tries one send.
        resume_sends()
        if trigger.event_filter.get("event_type") != "Connected":
            # A connection event is the gateway's business; only a trigger that asks acts on it.
            return Outcome(IGNORED, "connection_event", trigger=trigger)
    if not trigger.enabled:
        return Outcome(IGNORED, "disabled", trigger=trigger)
    if sources.is_own_message(event) and trigger.event_filter.get("from_me") is not True:
        # Safe by default: only a filter that asks for our own messages gets them.
        return Outcome(IGNORED, "own_message", trigger=trigger)
    if not sources.matches_filter(event, trigger.event_filter):
        return Outcome(IGNORED, "filtered", trigger=trigger)
    try:
        if (media := move_media_out(payload)) is not None:
            event["media"] = media
    except sources.InvalidPayload as exc:
        return _rejected(trigger, "invalid_payload", str(exc))
    except MediaStorageUnavailable as exc:
        return _rejected(trigger, "media_storage_unavailable", str(exc))
    key = sources.extract_idempotency_key(
        trigger.source,
        headers,
        payload,
        event,
        trigger.idempotency_key_paths,
        proof=authenticated.proof,
        body_sha256=authenticated.body_sha256,
    )
    try:
        recorded = record_event(trigger, sources.redact_secrets(event), key)
    except IntegrityError:
        if Trigger.objects.filter(pk=trigger.pk).exists():
            raise
        # Deleted a moment ago, and this process still had it cached: it is gone for everyone.
        forget_trigger(trigger.public_id)
        return _rejected(None, "not_found", "No trigger with this webhook URL.")
    status = DUPLICATE if recorded.outcome == "duplicate" else ACCEPTED
    return Outcome(status, trigger=trigger, execution_id=recorded.execution_id, key=key)

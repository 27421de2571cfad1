"""Take one webhook delivery in: the whole ingest pipeline, and the dedup write path.

`receive` is the one service behind the webhook URL: find the trigger, check
the request's size and type, parse and authenticate it, filter, find the
idempotency key and record the event exactly once (`triggers.receive.recording`). It
answers an `Outcome`; the view only turns that into HTTP.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError

from evonexus.redaction import redact_secrets
from triggers import sources
from triggers.execute.demo import demo_refusal
from triggers.execute.executor import note_connection_event
from triggers.execute.receipts import apply_receipt
from triggers.models import Trigger
from triggers.receive.lookup import forget_trigger, get_trigger
from triggers.receive.media import ArrivingFile, MediaStorageUnavailable, keep_file, split_body
from triggers.receive.recording import record_event
from triggers.sources.base import (
    CONNECTION,
    OWN_MESSAGE,
    RECEIPT,
    AuthenticationFailed,
    InvalidPayload,
    LowerCaseHeaders,
    lookup_path,
    lower_case_headers,
)
from triggers.sources.files import RestTooLarge
from triggers.sources.filters import matches_filter


@dataclass(frozen=True)
class Delivery:
    """One POST to a webhook URL, as the pipeline needs it (nothing of HTTP frameworks)."""

    headers: Mapping[str, str]
    content_type: str
    content_length: str  # the header as sent; "" when absent
    chunked: bool
    read_body: Callable[[], bytes]  # called only once size and type are acceptable
    read_chunk: Callable[[int], bytes] = lambda size: b""  # the same body, a part at a time


# What a delivery can come to. Rejections and ignores carry a `reason`.
# (`RECEIPT`, a kind of event, is also what came of one.)
ACCEPTED, DUPLICATE, IGNORED, REJECTED = "accepted", "duplicate", "ignored", "rejected"


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
    """Return the largest body `trigger` accepts: its sender's limit (some carry whole files)."""
    return getattr(settings, sources.spec_for(trigger.source).max_body_setting)


def _check_envelope(
    delivery: Delivery, headers: LowerCaseHeaders, max_bytes: int
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


def receive(public_id: str, delivery: Delivery, *, now: float | None = None) -> Outcome:
    """Return what became of one delivery to the webhook URL of `public_id`.

    Rejected (nothing stored): no such trigger (`not_found`), a chunked body
    (`length_required`), a bad or too large Content-Length (the sender's own
    limit), a content type other than JSON, a body that is not a storable JSON
    object (`invalid_payload`) or that does not authenticate (`unauthorized`),
    a file that media storage could not take (`media_storage_unavailable`: the
    sender tries again). What the event is, its sender's module says; only
    messages are work (see `_not_work`). A message is recorded (`accepted`) or
    found to be a `duplicate`; a file it carries was taken out of the body as
    it streamed in, and is stored first (`triggers.receive.media`).
    """
    trigger = get_trigger(public_id)
    if trigger is None:
        return _rejected(None, "not_found", "No trigger with this webhook URL.")
    headers = lower_case_headers(delivery.headers)
    if refusal := _check_envelope(delivery, headers, max_body_bytes(trigger)):
        return _rejected(trigger, *refusal)
    arriving: ArrivingFile | None = None
    try:
        try:
            request, arriving = _read(trigger, delivery, headers, time.time() if now is None else now)
        except RestTooLarge as exc:
            return _rejected(trigger, "body_too_large", f"{exc}.")
        except InvalidPayload as exc:
            return _rejected(trigger, "invalid_payload", str(exc))
        except AuthenticationFailed as exc:
            return _rejected(trigger, "unauthorized", str(exc))
        if (outcome := _not_work(trigger, request)) is not None:
            return outcome
        if arriving is not None:
            try:
                _keep_file(trigger, request, arriving)
            except MediaStorageUnavailable as exc:
                return _rejected(trigger, "media_storage_unavailable", str(exc))
        key = sources.extract_idempotency_key(
            trigger.source,
            headers,
            request.payload,
            request.event,
            trigger.idempotency_key_paths,
            proof=request.proof,
            body_sha256=request.body_sha256,
            key_signed_bodies=trigger.key_signed_bodies,
        )
        return _record(trigger, request.event, key)
    finally:
        if arriving is not None:
            arriving.discard()


def _read(
    trigger: Trigger, delivery: Delivery, headers: LowerCaseHeaders, now: float
) -> tuple[sources.ReadRequest, ArrivingFile | None]:
    """Return the request read as its sender's, and the file its body carried (if its sender sends one).

    A sender whose events may carry a file has its body read as a stream: the
    file goes to disk as it arrives and the rest (`WEBHOOK_MAX_BODY_BYTES` at
    most) is parsed. Raises what `sources.read_request` raises, and
    `RestTooLarge`; a file read before the error is removed.
    """
    path = sources.spec_for(trigger.source).file_path
    arriving = None
    if path is None:
        body = delivery.read_body()
    else:
        length = int(delivery.content_length or 0)
        body, arriving = split_body(
            delivery.read_chunk, length, path, max_rest_bytes=settings.WEBHOOK_MAX_BODY_BYTES
        )
    try:
        request = sources.read_request(
            trigger.source,
            trigger.signing_secrets(),
            headers,
            body,
            now=now,
            tolerance=settings.WEBHOOK_SIGNATURE_TOLERANCE_SECONDS,
            max_depth=settings.WEBHOOK_MAX_JSON_DEPTH,
        )
    except (InvalidPayload, AuthenticationFailed):
        if arriving is not None:
            arriving.discard()
        raise
    return request, arriving


def _not_work(trigger: Trigger, request: sources.ReadRequest) -> Outcome | None:
    """Return the outcome of an event that runs nothing, or `None` for one that is work.

    Anything at a disabled trigger is ignored (`disabled`), and anything at the
    demo trigger while the gateway is not its loopback sandbox (`demo`). A receipt updates
    the messages we sent (`receipt`, with how many it `matched`), whatever the
    trigger's filter: only the messages of the trigger's instance, whose token
    authenticated it. A connection event is the gateway's state, never work
    (`connection`, whatever the filter): it moves the trigger's instance's
    state and breaker, and no other's. Ignored too: the sender's echo of our own message
    (`own_message`, unless the filter asks for `"from_me": true`), an event the
    filter refuses.
    """
    event, event_filter = request.event, trigger.event_filter
    if not trigger.enabled:
        return Outcome(IGNORED, "disabled", trigger=trigger)
    if demo_refusal(trigger):
        # The demo's token is public: it works against the loopback sandbox and nowhere else.
        return Outcome(IGNORED, "demo", trigger=trigger)
    if request.kind == RECEIPT:
        ids = event.get("message_ids")
        ids = ids if isinstance(ids, list) else []
        matched = apply_receipt(ids, str(event.get("state")), instance_id=trigger.instance_id)
        return Outcome(RECEIPT, trigger=trigger, matched=matched)
    if request.kind == CONNECTION:
        note_connection_event(
            event.get("connection"), instance_id=trigger.instance_id, ban_seconds=event.get("ban_seconds")
        )
        return Outcome(IGNORED, "connection", trigger=trigger)
    if request.kind == OWN_MESSAGE and event_filter.get("from_me") is not True:
        # Safe by default: only a filter that asks for our own messages gets them.
        return Outcome(IGNORED, "own_message", trigger=trigger)
    if not matches_filter(event, event_filter):
        return Outcome(IGNORED, "filtered", trigger=trigger)
    return None


def _keep_file(trigger: Trigger, request: sources.ReadRequest, arriving: ArrivingFile) -> None:
    """Store the file the body carried; the event keeps its metadata (`media`, and `media_dropped`)."""
    path = sources.spec_for(trigger.source).file_path
    holder = lookup_path(request.payload, ".".join(path[:-1]))
    if not isinstance(holder, dict):
        return
    media = keep_file(holder, arriving)
    request.event["media"] = media
    if media.get("dropped"):
        request.event["media_dropped"] = media["dropped"]


def _record(trigger: Trigger, event: dict, key: str | None) -> Outcome:
    """Return the outcome of recording the event: `accepted`, or a `duplicate` of its key's holder."""
    try:
        recorded = record_event(trigger, redact_secrets(event), key)
    except IntegrityError:
        if Trigger.objects.filter(pk=trigger.pk).exists():
            raise
        # Deleted a moment ago, and this process still had it cached: it is gone for everyone.
        forget_trigger(trigger.public_id)
        return _rejected(None, "not_found", "No trigger with this webhook URL.")
    status = DUPLICATE if recorded.outcome == "duplicate" else ACCEPTED
    return Outcome(status, trigger=trigger, execution_id=recorded.execution_id, key=key)

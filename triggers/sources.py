"""What each webhook sender sends: pure functions over (headers, body).

Parsing, authentication, the event shape, the idempotency key and the event
filter live here, free of Django models and requests, so they can be tested
exhaustively on their own. Secret redaction is `evonexus.redaction`'s, shared
with the gateway CLI's output.
"""

import base64
import binascii
import fnmatch
import hashlib
import hmac
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evonexus.redaction import REDACTED, redact_secrets  # noqa: F401 (re-exported)

MAX_KEY_LENGTH = 255

# Tried in this order when a trigger names no paths of its own; each is looked up in
# the raw body and then in the parsed event.
DEFAULT_KEY_PATHS = ("idempotency_key", "messageId", "data.idempotency_key", "data.messageId")


class InvalidPayload(Exception):
    """The body is not a JSON object we can store (answered 400)."""


class AuthenticationFailed(Exception):
    """The request does not prove it comes from the trigger's sender (answered 401)."""


@dataclass(frozen=True)
class Proof:
    """What a request's authentication covers: the body (an HMAC over it), and which headers.

    A bearer token or an instance token proves the sender but signs nothing: a
    captured request can be changed anywhere. A signature covers the body (and
    Standard Webhooks' signature also its `webhook-id`): a copy with a changed
    body fails, but a changed unsigned header does not.
    """

    body_signed: bool
    signed_headers: frozenset[str] = frozenset()


SIGNED_BODY = Proof(body_signed=True)
NOTHING_SIGNED = Proof(body_signed=False)


# --- Parsing ---------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise InvalidPayload(f"JSON constant {name} is not allowed")


def _finite_float(text: str) -> float:
    # 1e999 (or a 400-digit number) parses to infinity, which no database stores as JSON.
    value = float(text)
    if not math.isfinite(value):
        raise InvalidPayload(f"JSON number {text[:40]} is out of range")
    return value


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    # Two values for one name would let the sender's parser and ours disagree on,
    # say, the idempotency key; RFC 8259 leaves it undefined, so refuse it.
    obj = dict(pairs)
    if len(obj) < len(pairs):
        counts = Counter(name for name, _ in pairs)
        repeated = next(name for name, count in counts.items() if count > 1)
        raise InvalidPayload(f"JSON object has the key {json.dumps(repeated)[:100]} more than once")
    return obj


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def check_storable(value: Any, max_depth: int = 64) -> None:
    """Return `None` if every database can store `value` as JSON.

    Raises `InvalidPayload` for nesting deeper than `max_depth`, for numbers
    that are not finite, and for strings (keys included) holding NUL or
    unpaired surrogates.
    """
    _check_tree(value, max_depth)


def _check_tree(value: Any, max_depth: int, depth: int = 1) -> None:
    if depth > max_depth:
        raise InvalidPayload(f"JSON is nested deeper than {max_depth} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_tree(key, max_depth, depth)
            _check_tree(item, max_depth, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_tree(item, max_depth, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidPayload("JSON numbers must be finite (no NaN, Infinity or overflowing values)")
    elif isinstance(value, str):
        # PostgreSQL's jsonb cannot store NUL, and no database can store half of a
        # surrogate pair (it is not UTF-8); refuse both on every database alike.
        if "\x00" in value:
            raise InvalidPayload("JSON strings may not contain NUL (\\u0000) characters")
        if _LONE_SURROGATE.search(value):
            raise InvalidPayload("JSON strings may not contain unpaired surrogates (\\ud800-\\udfff)")


class StrictJSONDecoder(json.JSONDecoder):
    """A JSON decoder with the body's rules: no NaN/Infinity, no overflowing numbers, no key twice.

    For forms (the admin's JSON fields): it raises `json.JSONDecodeError`, which
    a form reports as invalid JSON rather than as a server error.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(
            parse_constant=_as_decode_error(_reject_constant),
            parse_float=_as_decode_error(_finite_float),
            object_pairs_hook=_as_decode_error(_object_without_duplicate_keys),
        )


def _as_decode_error(hook: Any) -> Any:
    def strict(value: Any) -> Any:
        try:
            return hook(value)
        except InvalidPayload as exc:
            raise json.JSONDecodeError(str(exc), "", 0) from None

    return strict


def parse_json_body(raw: bytes, *, max_depth: int = 64) -> dict:
    """Return the body decoded as a JSON object.

    Raises `InvalidPayload` for invalid UTF-8, invalid JSON, NaN/Infinity,
    NUL characters, nesting deeper than `max_depth`, a key repeated within one
    object, or a top level that is not an object.
    """
    if not raw.strip():
        raise InvalidPayload("Request body is empty; a JSON object is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("Request body is not valid UTF-8") from None
    try:
        payload = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_object_without_duplicate_keys,
        )
    except RecursionError:
        raise InvalidPayload(f"JSON is nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        if isinstance(exc, InvalidPayload):
            raise
        raise InvalidPayload(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidPayload("Request body must be a JSON object")
    check_storable(payload, max_depth)
    return payload


# --- Authentication --------------------------------------------------------------------


class LowerCaseHeaders(dict):
    """Request headers by lower-case name, as `lower_case_headers` returns them."""


def lower_case_headers(headers: Mapping[str, str]) -> LowerCaseHeaders:
    """Return `headers` by lower-case name; headers it returned before come back as they are.

    So a request's headers are lowered once, however many steps read them.
    """
    if isinstance(headers, LowerCaseHeaders):
        return headers
    return LowerCaseHeaders({name.lower(): value for name, value in headers.items()})


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    """Return whether two strings are equal, in constant time (any characters)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def _check_timestamp(timestamp: str, now: float, tolerance: int) -> None:
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise AuthenticationFailed("signature timestamp is not an integer") from None
    if abs(now - sent_at) > tolerance:
        raise AuthenticationFailed(f"signature timestamp is outside the {tolerance} s tolerance")


def _verify_github(secrets: Iterable[str], headers: dict, body: bytes, **_: Any) -> Proof:
    given = headers.get("x-hub-signature-256", "")
    if not given.startswith("sha256="):
        raise AuthenticationFailed("missing X-Hub-Signature-256 header")
    if not any(_same(given, "sha256=" + _hmac_hex(s, body)) for s in secrets):
        raise AuthenticationFailed("X-Hub-Signature-256 does not match")
    return SIGNED_BODY


def _verify_stripe(
    secrets: Iterable[str], headers: dict, body: bytes, now: float, tolerance: int, **_: Any
) -> Proof:
    header = headers.get("stripe-signature", "")
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [value for name, value in parts if name.strip() == "t"]
    signatures = [value.strip() for name, value in parts if name.strip() == "v1"]
    if len(timestamps) != 1 or not signatures:
        raise AuthenticationFailed("missing or malformed Stripe-Signature header")
    timestamp = timestamps[0].strip()
    _check_timestamp(timestamp, now, tolerance)
    signed = timestamp.encode() + b"." + body
    expected = [_hmac_hex(s, signed) for s in secrets]
    if not any(_same(given, want) for given in signatures for want in expected):
        raise AuthenticationFailed("Stripe-Signature does not match")
    return SIGNED_BODY


def _verify_linear(
    secrets: Iterable[str],
    headers: dict,
    body: bytes,
    payload: dict,
    now: float,
    tolerance: int,
    **_: Any,
) -> Proof:
    given = headers.get("linear-signature", "")
    if not given:
        raise AuthenticationFailed("missing Linear-Signature header")
    if not any(_same(given, _hmac_hex(s, body)) for s in secrets):
        raise AuthenticationFailed("Linear-Signature does not match")
    # Linear signs a millisecond timestamp into the body; refuse stale replays of it.
    sent_ms = payload.get("webhookTimestamp")
    if isinstance(sent_ms, int) and not isinstance(sent_ms, bool):
        _check_timestamp(str(sent_ms // 1000), now, tolerance)
    return SIGNED_BODY


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
    _check_timestamp(timestamp, now, tolerance)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    given = [
        entry.split(",", 1)[1]
        for entry in headers.get("webhook-signature", "").split()
        if entry.startswith("v1,")
    ]
    for secret in secrets:
        digest = hmac.new(_standard_webhooks_key(secret), signed, hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode()
        if any(_same(signature, expected) for signature in given):
            return Proof(body_signed=True, signed_headers=frozenset({"webhook-id"}))
    raise AuthenticationFailed("webhook-signature does not match")


def _verify_generic(
    secrets: Iterable[str], headers: dict, body: bytes, now: float, tolerance: int, **_: Any
) -> Proof:
    secrets = list(secrets)
    if "webhook-signature" in headers:
        return _verify_standard_webhooks(secrets, headers, body, now, tolerance)
    if "x-webhook-signature" in headers:
        given = headers["x-webhook-signature"].strip().removeprefix("sha256=")
        if any(_same(given, _hmac_hex(s, body)) for s in secrets):
            return SIGNED_BODY
        raise AuthenticationFailed("X-Webhook-Signature does not match")
    # Telegram's own way: the secret_token given to setWebhook comes back in this header.
    if "x-telegram-bot-api-secret-token" in headers:
        given = headers["x-telegram-bot-api-secret-token"]
        if any(_same(given, s) for s in secrets):
            return NOTHING_SIGNED
        raise AuthenticationFailed("X-Telegram-Bot-Api-Secret-Token does not match")
    authorization = headers.get("authorization", "")
    if authorization.startswith("Bearer "):
        if any(_same(authorization.removeprefix("Bearer ").strip(), s) for s in secrets):
            return NOTHING_SIGNED
        raise AuthenticationFailed("bearer token does not match")
    raise AuthenticationFailed(
        "missing signature: send X-Webhook-Signature, Standard Webhooks headers "
        "or Authorization: Bearer <secret>"
    )


def _verify_whatsapp(secrets: Iterable[str], payload: dict, **_: Any) -> Proof:
    # Evolution Go signs nothing; it sends the instance token in every payload
    # (Evolution API v2 calls it apikey), and that token is the trigger's secret.
    given = payload.get("instanceToken", payload.get("apikey"))
    if not isinstance(given, str) or not given:
        raise AuthenticationFailed("missing instanceToken (or apikey) in the payload")
    if not any(_same(given, s) for s in secrets):
        raise AuthenticationFailed("instanceToken does not match")
    return NOTHING_SIGNED


def verify_request(
    source: str,
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    payload: dict,
    *,
    now: float,
    tolerance: int = 300,
) -> Proof:
    """Return what the authentication covers, if the request is authentic for one of `secrets`.

    Raises `AuthenticationFailed` with the reason otherwise. All comparisons
    are constant-time; timestamps (Stripe, Standard Webhooks, Linear) must be
    within `tolerance` seconds of `now`. Empty secrets never match.
    """
    secrets = [s for s in secrets if s]
    if not secrets:
        raise AuthenticationFailed("the trigger has no secret")
    return spec_for(source).verify(
        secrets=secrets,
        headers=lower_case_headers(headers),
        body=body,
        payload=payload,
        now=now,
        tolerance=tolerance,
    )


# --- The event shape -------------------------------------------------------------------


def lookup_path(obj: Any, path: str) -> Any:
    """Return the value at a dotted `path` (list items by index), or `None` if absent."""
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# Where WhatsApp puts what a person wrote: a text, or the caption of a media message.
_WHATSAPP_TEXT_PATHS = (
    "conversation",
    "extendedTextMessage.text",
    "imageMessage.caption",
    "videoMessage.caption",
    "documentMessage.caption",
)
_WHATSAPP_QUOTED_ID_PATHS = tuple(
    f"{kind}.contextInfo.stanzaID"
    for kind in ("extendedTextMessage", "imageMessage", "videoMessage", "documentMessage")
)


def _first_text(obj: Any, paths: Iterable[str]) -> str | None:
    return next((text for path in paths if (text := _text(lookup_path(obj, path)))), None)


# Evolution API v2's message statuses (src/utils/renderStatus.ts) as receipt states.
_V2_RECEIPT_STATES = {"DELIVERY_ACK": "Delivered", "READ": "Read", "PLAYED": "Read"}


def _parse_whatsapp(headers: dict, payload: dict) -> dict:
    data = payload.get("data")
    event = {"event_type": payload.get("event"), "data": data}
    if payload.get("event") == "messages.update":  # Evolution API v2: a status change
        event.update(
            instance=payload.get("instance"),
            message_ids=[lookup_path(data, "keyId")],  # the WhatsApp id; `messageId` is a row id
            state=_V2_RECEIPT_STATES.get(str(lookup_path(data, "status"))),
            chat=lookup_path(data, "remoteJid"),
            sender=lookup_path(data, "remoteJid"),
            from_me=lookup_path(data, "fromMe"),
        )
    elif isinstance(lookup_path(data, "key"), dict):  # Evolution API v2
        event.update(
            instance=payload.get("instance"),
            message_id=lookup_path(data, "key.id"),
            sender=lookup_path(data, "key.remoteJid"),
            chat=lookup_path(data, "key.remoteJid"),
            from_me=lookup_path(data, "key.fromMe"),
            text=_first_text(lookup_path(data, "message"), _WHATSAPP_TEXT_PATHS),
        )
    elif payload.get("event") == "Receipt":  # Evolution Go: delivered / read
        event.update(
            instance=payload.get("instanceName"),
            message_ids=lookup_path(data, "MessageIDs"),
            state=payload.get("state"),
            chat=lookup_path(data, "Chat"),
            sender=lookup_path(data, "Sender"),
        )
    else:  # Evolution Go
        message = lookup_path(data, "Message")
        event.update(
            instance=payload.get("instanceName"),
            message_id=lookup_path(data, "Info.ID"),
            sender=lookup_path(data, "Info.Sender"),
            chat=lookup_path(data, "Info.Chat"),
            from_me=lookup_path(data, "Info.IsFromMe"),
            is_group=lookup_path(data, "Info.IsGroup"),
            push_name=lookup_path(data, "Info.PushName"),
            media_type=_text(lookup_path(data, "Info.MediaType")),
            media=lookup_path(message, "media"),  # what triggers.inbound_media kept of the file
            media_url=_text(lookup_path(message, "mediaUrl")),  # the server's MinIO URL, if any
            quoted_message_id=_first_text(message, _WHATSAPP_QUOTED_ID_PATHS),
            text=_first_text(message, _WHATSAPP_TEXT_PATHS),
        )
    return event


def is_receipt(event: dict) -> bool:
    """Return whether a parsed event reports the delivery of messages: Evolution Go's `Receipt`,
    or Evolution API v2's `messages.update`."""
    return event.get("source") == "whatsapp" and event.get("event_type") in ("Receipt", "messages.update")


def is_connected(event: dict) -> bool:
    """Return whether a parsed event says the WhatsApp instance is connected (`Connected`)."""
    return event.get("source") == "whatsapp" and event.get("event_type") == "Connected"


def is_own_message(event: dict) -> bool:
    """Return whether a parsed WhatsApp event is a message this instance sent itself.

    Evolution Go echoes every send as `SendMessage`, and reports messages
    written on the phone as `Message` with `IsFromMe`; answering either would
    answer ourselves forever. Events of other sources are never our own.
    """
    if event.get("source") != "whatsapp":
        return False
    return event.get("event_type") == "SendMessage" or event.get("from_me") is True


def _parse_github(headers: dict, payload: dict) -> dict:
    ref = payload.get("ref")
    return {
        "event_type": headers.get("x-github-event") or "unknown",
        "repository": lookup_path(payload, "repository.full_name"),
        "branch": ref.removeprefix("refs/heads/") if isinstance(ref, str) else None,
        "sender": lookup_path(payload, "sender.login"),
        "data": payload,
    }


def _parse_stripe(headers: dict, payload: dict) -> dict:
    return {
        "event_type": payload.get("type"),
        "object_type": lookup_path(payload, "data.object.object"),
        "object_id": lookup_path(payload, "data.object.id"),
        "data": payload,
    }


def _parse_linear(headers: dict, payload: dict) -> dict:
    kind, action = payload.get("type"), payload.get("action")
    return {
        "event_type": f"{kind}.{action}" if kind and action else kind or action,
        "type": kind,
        "action": action,
        "data": payload,
    }


def _parse_telegram(headers: dict, payload: dict) -> dict:
    message = payload.get("message") or payload.get("edited_message") or {}
    return {
        "event_type": "message" if message else "update",
        "chat_id": lookup_path(message, "chat.id"),
        "text": lookup_path(message, "text"),
        "data": payload,
    }


def _parse_discord(headers: dict, payload: dict) -> dict:
    return {
        "event_type": payload.get("type", "message"),
        "channel_id": payload.get("channel_id"),
        "content": payload.get("content"),
        "data": payload,
    }


def _parse_custom(headers: dict, payload: dict) -> dict:
    event_type = payload.get("event") or payload.get("event_type") or payload.get("type")
    return {"event_type": event_type or "webhook", "data": payload}


def parse_event(source: str, headers: Mapping[str, str], payload: dict) -> dict:
    """Return the event in the common shape: `event_type`, `source`, `data` and source fields.

    Unknown sources parse like `custom`: the body is kept whole under `data`.
    """
    event = spec_for(source).parse(lower_case_headers(headers), payload)
    event["event_type"] = str(event["event_type"]) if event["event_type"] is not None else None
    return {"source": source, **event}


# --- The idempotency key ---------------------------------------------------------------


def normalize_key(value: Any) -> str | None:
    """Return `value` as an idempotency key, or `None` if it cannot be one.

    Strings are stripped; integers and floats become strings; booleans,
    objects, lists and empty strings are not keys. A key longer than 255
    characters becomes its SHA-256 hex digest, so long keys never collide on
    a shared prefix.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_KEY_LENGTH:
        return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return value


def extract_idempotency_key(
    source: str,
    headers: Mapping[str, str],
    payload: dict,
    event: dict,
    key_paths: Iterable[str] = (),
    *,
    proof: Proof = NOTHING_SIGNED,
    body_sha256: str = "",
) -> str | None:
    """Return the event's idempotency key, or `None` when it has none.

    A key the signature covers always wins over one it does not, so a
    captured request sent again with a changed header is still a duplicate.
    In order: the trigger's `key_paths` (or, when there are none,
    `DEFAULT_KEY_PATHS`), each looked up in the body and then in the parsed
    event; the source's own id in the body (Stripe's event id, Evolution's
    message id) or in a signed header (Standard Webhooks' `webhook-id`); then
    the unsigned headers (`Idempotency-Key`, GitHub's `X-GitHub-Delivery`,
    `Linear-Delivery`). Those are the key only when nothing is signed (a
    bearer token); when the body is signed, the key is the signed body's
    `body_sha256` instead (`sha256:<hex>`). Never raises on any JSON.
    """
    lowered = lower_case_headers(headers)
    native = spec_for(source).native_keys(lowered, payload)
    covered: list[Any] = []
    for path in list(key_paths) or DEFAULT_KEY_PATHS:
        covered += [lookup_path(payload, path), lookup_path(event, path)]
    covered += [value for where, value in native if where is None or where in proof.signed_headers]
    uncovered = [lowered.get("idempotency-key")]
    uncovered += [value for where, value in native if where is not None and where not in proof.signed_headers]
    if (key := _first_key(covered)) is not None:
        return key
    if (key := _first_key(uncovered)) is not None and proof.body_signed:
        return "sha256:" + body_sha256
    return key


def _first_key(candidates: Iterable[Any]) -> str | None:
    return next((key for candidate in candidates if (key := normalize_key(candidate)) is not None), None)


# --- The filter ----------------------------------------------------------------------


def _filter_value_matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return actual == expected or fnmatch.fnmatchcase(actual, expected)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return expected == actual


def matches_filter(event: dict, event_filter: Mapping[str, Any]) -> bool:
    """Return whether the event passes every condition of `event_filter`.

    Each key (a dotted path) is looked up in the event, then in `event.data`;
    a missing key fails. Strings match by equality or fnmatch pattern
    (`push`, `refs/heads/*`); other values by equality. An empty filter passes.
    """
    for path, expected in event_filter.items():
        actual = lookup_path(event, path)
        if actual is None:
            actual = lookup_path(event.get("data"), path)
        if actual is None or not _filter_value_matches(expected, actual):
            return False
    return True


# --- One record per source ---------------------------------------------------------------


# A source's own keys: (where, value), `where` being None for the body or the header's name.
NativeKeys = list[tuple[str | None, Any]]


def _keys_whatsapp(headers: dict, payload: dict) -> NativeKeys:
    return [(None, lookup_path(payload, "data.Info.ID")), (None, lookup_path(payload, "data.key.id"))]


def _keys_github(headers: dict, payload: dict) -> NativeKeys:
    return [("x-github-delivery", headers.get("x-github-delivery"))]


def _keys_stripe(headers: dict, payload: dict) -> NativeKeys:
    return [(None, payload.get("id"))]


def _keys_linear(headers: dict, payload: dict) -> NativeKeys:
    # The body's webhookId names the webhook, not the delivery: never a key.
    return [("linear-delivery", headers.get("linear-delivery"))]


def _keys_standard_webhooks(headers: dict, payload: dict) -> NativeKeys:
    return [("webhook-id", headers.get("webhook-id"))]


@dataclass(frozen=True)
class SourceSpec:
    """What one sender does: how it proves itself, what its events look like, its own event id.

    `verify(secrets=, headers=, body=, payload=, now=, tolerance=)` returns
    the `Proof` or raises `AuthenticationFailed`; `parse(headers, payload)`
    returns the event's source fields; `native_keys(headers, payload)` returns
    the candidates for the sender's own delivery or message id, best first,
    each with where it was found. Headers are lower-cased.
    """

    verify: Callable[..., Proof]
    parse: Callable[[dict, dict], dict]
    native_keys: Callable[[dict, dict], NativeKeys]


# Keyed by the stored `Trigger.source` values; a test checks that every value has one.
SOURCES: dict[str, SourceSpec] = {
    "github": SourceSpec(_verify_github, _parse_github, _keys_github),
    "stripe": SourceSpec(_verify_stripe, _parse_stripe, _keys_stripe),
    "linear": SourceSpec(_verify_linear, _parse_linear, _keys_linear),
    "telegram": SourceSpec(_verify_generic, _parse_telegram, _keys_standard_webhooks),
    "discord": SourceSpec(_verify_generic, _parse_discord, _keys_standard_webhooks),
    "whatsapp": SourceSpec(_verify_whatsapp, _parse_whatsapp, _keys_whatsapp),
    "custom": SourceSpec(_verify_generic, _parse_custom, _keys_standard_webhooks),
}


def spec_for(source: str) -> SourceSpec:
    """Return the record of `source`; an unknown source is treated like `custom`."""
    return SOURCES.get(source, SOURCES["custom"])

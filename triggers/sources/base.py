"""What every sender's module is built from: the record of a sender, proofs, headers, paths, HMAC.

Pure: no Django, no requests. A sender's module (`github.py`, `whatsapp.py`, ...)
defines one `Sender`; `triggers.sources` holds them by source name.
"""

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


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

# What an event is, as its sender's module tells: work for the trigger (a message), or
# news about what we sent (a receipt), the gateway's state (a connection event) or an
# echo of our own sends. Only messages run the trigger's action.
MESSAGE, RECEIPT, CONNECTION, OWN_MESSAGE = "message", "receipt", "connection", "own_message"

# A source's own keys: (where, value), `where` being None for the body or the header's name.
NativeKeys = list[tuple[str | None, Any]]


def always_a_message(event: dict) -> str:
    """Return `MESSAGE`: what every event of a sender that reports nothing else is."""
    return MESSAGE


def names_no_account(payload: dict) -> None:
    """Return `None`: the account a sender with one account per trigger speaks for."""
    return None


@dataclass(frozen=True)
class Sender:
    """Everything one kind of sender does, in one record.

    `verify(secrets=, headers=, body=, payload=, now=, tolerance=)` returns the
    `Proof` or raises `AuthenticationFailed`; `parse(headers, payload)` returns
    the event's source fields; `native_keys(headers, payload)` returns the
    candidates for the sender's own delivery or message id, best first, each
    with where it was found; `kind(event)` says what a parsed event is
    (`MESSAGE`, `RECEIPT`, `CONNECTION`, `OWN_MESSAGE`); `max_body_setting`
    names the setting that bounds its bodies; `file_path` names the keys down to
    the string where a file rides base64-encoded (`None`: it never sends one),
    which the body's reader takes out as it streams (`files.FileSplitter`);
    `account(payload)` returns the credential that names the sender's account
    (WhatsApp: the instance token), so that state only that account may move
    (its connection, its receipts) is checked against it. Headers are lower-cased.
    """

    verify: Callable[..., Proof]
    parse: Callable[[dict, dict], dict]
    native_keys: Callable[[dict, dict], NativeKeys]
    kind: Callable[[dict], str] = always_a_message
    max_body_setting: str = "WEBHOOK_MAX_BODY_BYTES"
    file_path: tuple[str, ...] | None = None
    account: Callable[[dict], str | None] = names_no_account


class LowerCaseHeaders(dict):
    """Request headers by lower-case name, as `lower_case_headers` returns them."""


def lower_case_headers(headers: Mapping[str, str]) -> LowerCaseHeaders:
    """Return `headers` by lower-case name; headers it returned before come back as they are.

    So a request's headers are lowered once, however many steps read them.
    """
    if isinstance(headers, LowerCaseHeaders):
        return headers
    return LowerCaseHeaders({name.lower(): value for name, value in headers.items()})


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


def text_or_none(value: Any) -> str | None:
    """Return `value` if it is a non-empty string, else `None`."""
    return value if isinstance(value, str) and value else None


def first_text(obj: Any, paths: Iterable[str]) -> str | None:
    """Return the first non-empty string found at `paths` inside `obj`, or `None`."""
    return next((text for path in paths if (text := text_or_none(lookup_path(obj, path)))), None)


def hmac_hex(secret: str, message: bytes) -> str:
    """Return the hex HMAC-SHA256 of `message` under `secret`."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def same(given: str, expected: str) -> bool:
    """Return whether two strings are equal, in constant time (any characters)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def check_timestamp(timestamp: str, now: float, tolerance: int) -> None:
    """Return `None` if `timestamp` (Unix seconds) is within `tolerance` of `now`.

    Raises `AuthenticationFailed` for a non-integer or a stale timestamp.
    """
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise AuthenticationFailed("signature timestamp is not an integer") from None
    if abs(now - sent_at) > tolerance:
        raise AuthenticationFailed(f"signature timestamp is outside the {tolerance} s tolerance")

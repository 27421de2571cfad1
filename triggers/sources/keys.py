"""The idempotency key: which value names an event, the same for every sender.

A sender's module says where its own ids are (`Sender.native_keys`); this
module decides among them, the trigger's own paths and the headers.
"""

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from triggers.sources.base import NOTHING_SIGNED, NativeKeys, Proof, lookup_path

MAX_KEY_LENGTH = 255

# Tried in this order when a trigger names no paths of its own; each is looked up in
# the raw body and then in the parsed event.
DEFAULT_KEY_PATHS = ("idempotency_key", "messageId", "data.idempotency_key", "data.messageId")


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


def choose_key(
    headers: Mapping[str, str],
    payload: dict,
    event: dict,
    key_paths: Iterable[str],
    native: NativeKeys,
    *,
    proof: Proof = NOTHING_SIGNED,
    body_sha256: str = "",
    key_signed_bodies: bool = True,
) -> str | None:
    """Return the event's idempotency key, or `None` when it has none.

    A request is keyed by what its signature covers, always, so a captured
    request sent again with a header changed or dropped is still a duplicate.
    In order: the trigger's `key_paths` (or, when there are none,
    `DEFAULT_KEY_PATHS`), each looked up in the body and then in the parsed
    event; the sender's `native` ids found in the body or in a signed header
    (Standard Webhooks' `webhook-id`). Failing those, a signed body is keyed
    by its `body_sha256` (`sha256:<hex>`), whatever unsigned headers say,
    unless `key_signed_bodies` is off (a trigger's choice: identical bodies
    are then separate events). Only then the unsigned headers
    (`Idempotency-Key`, and the sender's, such as GitHub's `X-GitHub-Delivery`):
    the key when nothing is signed (a bearer token). `headers` are
    lower-cased. Never raises on any JSON.
    """
    covered: list[Any] = []
    for path in list(key_paths) or DEFAULT_KEY_PATHS:
        covered += [lookup_path(payload, path), lookup_path(event, path)]
    covered += [value for where, value in native if where is None or where in proof.signed_headers]
    uncovered = [headers.get("idempotency-key")]
    uncovered += [value for where, value in native if where is not None and where not in proof.signed_headers]
    if (key := _first_key(covered)) is not None:
        return key
    if proof.body_signed and key_signed_bodies:
        return "sha256:" + body_sha256
    return _first_key(uncovered)


def _first_key(candidates: Iterable[Any]) -> str | None:
    return next((key for candidate in candidates if (key := normalize_key(candidate)) is not None), None)

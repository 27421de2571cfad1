"""What each webhook sender sends: one module per sender, pure functions over (headers, body).

Each sender's module (`github`, `stripe`, `linear`, `telegram`, `discord`,
`whatsapp`, `custom`) holds its whole record (`base.Sender`): how it proves
itself, its event's shape, its own ids, what its events are (messages,
receipts, connection events, our own echoes), its body limit and where a file
rides. The rules all senders share are beside them: the body (`body`), the
idempotency key (`keys`) and the trigger's filter (`filters`). Nothing here
knows Django, so every rule is tested exhaustively on its own.

This module is the registry, and what the pipeline asks of a sender: `read_request`
takes the raw body once and answers the parsed, authenticated event.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from triggers.sources import custom, discord, github, linear, stripe, telegram, whatsapp
from triggers.sources.base import NOTHING_SIGNED, AuthenticationFailed, Proof, Sender, lower_case_headers
from triggers.sources.body import parse_json_body
from triggers.sources.keys import choose_key

# Keyed by the stored `Trigger.source` values; a test checks that every value has one.
SOURCES: dict[str, Sender] = {
    "github": github.SENDER,
    "stripe": stripe.SENDER,
    "linear": linear.SENDER,
    "telegram": telegram.SENDER,
    "discord": discord.SENDER,
    "whatsapp": whatsapp.SENDER,
    "custom": custom.SENDER,
}


def spec_for(source: str) -> Sender:
    """Return the record of `source`; an unknown source is treated like `custom`."""
    return SOURCES.get(source, SOURCES["custom"])


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


def parse_event(source: str, headers: Mapping[str, str], payload: dict) -> dict:
    """Return the event in the common shape: `event_type`, `source`, `data` and source fields.

    Unknown sources parse like `custom`: the body is kept whole under `data`.
    """
    event = spec_for(source).parse(lower_case_headers(headers), payload)
    event["event_type"] = str(event["event_type"]) if event["event_type"] is not None else None
    return {"source": source, **event}


def extract_idempotency_key(
    source: str,
    headers: Mapping[str, str],
    payload: dict,
    event: dict,
    key_paths: Iterable[str] = (),
    *,
    proof: Proof = NOTHING_SIGNED,
    body_sha256: str = "",
    key_signed_bodies: bool = True,
) -> str | None:
    """Return the event's idempotency key, or `None` when it has none (see `keys.choose_key`)."""
    lowered = lower_case_headers(headers)
    native = spec_for(source).native_keys(lowered, payload)
    return choose_key(
        lowered,
        payload,
        event,
        key_paths,
        native,
        proof=proof,
        body_sha256=body_sha256,
        key_signed_bodies=key_signed_bodies,
    )


@dataclass(frozen=True)
class ReadRequest:
    """A body that proved where it comes from: parsed, its event, what its proof covers.

    `body_sha256` is the body's digest when its signature covers it (else "");
    `kind` is what the sender's module says the event is (`base.MESSAGE`, ...);
    `account` the credential naming the sender's account (`Sender.account`).
    """

    payload: dict
    event: dict
    proof: Proof
    body_sha256: str
    kind: str
    account: str | None = None


def read_request(
    source: str,
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: int = 300,
    max_depth: int = 64,
) -> ReadRequest:
    """Return the request read as `source`'s sender: parsed, authenticated, its event and kind.

    Raises `InvalidPayload` for a body that is not a storable JSON object (see
    `body.parse_json_body`), and `AuthenticationFailed` (see `verify_request`).
    The raw body is not kept: a large one is freed when this returns.
    """
    payload = parse_json_body(body, max_depth=max_depth)
    proof = verify_request(source, secrets, headers, body, payload, now=now, tolerance=tolerance)
    # A signed body stops a replayed copy even when its only key is an unsigned header.
    digest = hashlib.sha256(body).hexdigest() if proof.body_signed else ""
    event = parse_event(source, headers, payload)
    sender = spec_for(source)
    return ReadRequest(payload, event, proof, digest, sender.kind(event), sender.account(payload))

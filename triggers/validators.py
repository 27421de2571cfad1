"""What a trigger's fields may hold: the validators the models, forms and API share.

The secret policy lives here too: how a secret is generated and how short it
may be, enforced by a validator on the field itself.
"""

import secrets
import time
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator

from triggers.choices import ActionType
from triggers.sources.base import InvalidPayload
from triggers.sources.body import StrictJSONDecoder, check_storable
from triggers.templating import validate_template
from whatsapp.contract import MEDIA_TYPES
from whatsapp.numbers import InvalidNumber, gateway_number

MIN_SECRET_LENGTH = 16

# `StrictJSONDecoder` is re-exported for the models: the admin's JSON fields parse
# with the webhook's rules (a key twice, NaN, 1e999: refused).
JSON_FIELD_DECODER = StrictJSONDecoder


def generate_secret() -> str:
    """Return a new trigger secret: 32 random bytes as hex."""
    return secrets.token_hex(32)


def time_ordered_uuid() -> uuid.UUID:
    """Return a version 7 UUID (RFC 9562): milliseconds since the epoch, then 74 random bits.

    New ones sort after old ones, so a unique index on them grows at its right
    edge instead of touching a random page on every INSERT (what a version 4
    UUID does, and what makes a large table slow to insert into).
    """
    milliseconds = time.time_ns() // 1_000_000
    value = (milliseconds & (2**48 - 1)) << 80 | secrets.randbits(80)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # the RFC's variant
    return uuid.UUID(int=value)


validate_secret_length = MinLengthValidator(
    MIN_SECRET_LENGTH, f"A secret must have at least {MIN_SECRET_LENGTH} characters."
)


def validate_event_filter(value: Any) -> None:
    """Raise `ValidationError` unless `value` is an object of path → expected value."""
    if not isinstance(value, dict):
        raise ValidationError("event_filter must be a JSON object of path: value pairs.")
    for path in value:
        if not path.strip():
            raise ValidationError("event_filter keys must be non-empty paths.")


def validate_storable_json(value: Any) -> None:
    """Raise `ValidationError` if a database cannot store `value` (NUL, unpaired surrogates, depth)."""
    try:
        check_storable(value)
    except InvalidPayload as exc:
        raise ValidationError(str(exc)) from None


def validate_key_paths(value: Any) -> None:
    """Raise `ValidationError` unless `value` is a list of non-empty dotted paths."""
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise ValidationError('idempotency_key_paths must be a list of dotted paths, e.g. ["data.order.id"].')


def validate_recipient(value: str) -> None:
    """Raise `ValidationError` unless `value` is empty, a phone number or a WhatsApp JID."""
    if value.strip():
        try:
            gateway_number(value)
        except InvalidNumber as exc:
            raise ValidationError(str(exc)) from None


def validate_whatsapp_payload(payload: dict) -> None:
    """Raise `ValidationError` unless `payload` is a whatsapp action's: a message, or media with a caption.

    `message` (the text) is required unless `media` (a URL template) is
    given, when it becomes the caption; `media_type` is optional (guessed
    from the URL's extension otherwise).
    """
    if "media" in payload:
        validate_template(payload["media"], "media", "the URL of the file to send")
        if payload.get("message") is not None and payload["message"] != "":
            validate_template(payload["message"], "message", "the caption")
        media_type = payload.get("media_type")
        if media_type is not None and media_type not in MEDIA_TYPES:
            raise ValidationError(f'"media_type" must be one of: {", ".join(MEDIA_TYPES)}.')
    else:
        validate_template(payload.get("message"), "message", "the text to send")


def validate_action_payload(action_type: str, payload: Any) -> None:
    """Raise `ValidationError` unless `payload` is valid for `action_type`."""
    if not isinstance(payload, dict):
        raise ValidationError("action_payload must be a JSON object.")
    if action_type == ActionType.SCRIPT:
        script = payload.get("script")
        if not isinstance(script, str) or not script.strip():
            raise ValidationError('A script action needs "script": the program\'s name in SCRIPTS_DIR.')
        args = payload.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValidationError('"args" must be a list of strings.')
        if not isinstance(payload.get("reply_via_whatsapp", False), bool):
            raise ValidationError('"reply_via_whatsapp" must be true or false.')
    elif action_type == ActionType.WHATSAPP:
        validate_whatsapp_payload(payload)
    else:
        raise ValidationError(f"Unknown action type {action_type!r}.")

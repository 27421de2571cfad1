"""Media inside WhatsApp events: the file leaves the event before anything is stored.

Evolution Go (with `WEBHOOK_FILES` on, its default, and no MinIO) posts a received
photo, video, document or voice note base64-encoded in `data.Message.base64` of
the `Message` event. Files never go into the database: the stored event keeps,
in place of `base64`, `data.Message.media`:

    {"bytes": 51234, "sha256": "<hex>", "mimetype": "image/jpeg", "object": "media/<sha256>"}

`object` is the key of the file in S3-compatible storage when `MEDIA_S3_*` is
configured (the file is uploaded before the webhook is answered, under its
SHA-256, so the same file twice is stored once), and `null` without storage
(then only the metadata is kept). With Evolution Go's own MinIO the event
carries `data.Message.mediaUrl` instead, which is kept as it is.
"""

import binascii
import hashlib

from botocore.exceptions import BotoCoreError, ClientError

from triggers.sources.base import InvalidPayload
from whatsapp.media import media_storage_configured, store_from_settings


class MediaStorageUnavailable(Exception):
    """The file could not be stored; the sender should try again later (answered 503)."""


def _mimetype(message: dict) -> str:
    # The file's description sits beside it: imageMessage.mimetype, audioMessage.mimetype, ...
    for value in message.values():
        if isinstance(value, dict) and isinstance(value.get("mimetype"), str):
            return value["mimetype"]
    return "application/octet-stream"


def move_media_out(message: dict) -> dict:
    """Return the metadata of the file in `message["base64"]`, after moving it out of `message`.

    `message` (the object the sender's module names: `data.Message`) is changed
    in place: `base64` gives way to `media` (see the module's docstring).
    Raises `InvalidPayload` for a `base64` that is not valid base64, and
    `MediaStorageUnavailable` when configured storage cannot take the file.
    """
    encoded = message.pop("base64")
    try:
        # a2b_base64 reads an ASCII str in place: no third copy of a large file in memory.
        data = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, TypeError, ValueError):
        raise InvalidPayload("data.Message.base64 is not valid base64") from None
    del encoded
    digest = hashlib.sha256(data).hexdigest()
    mimetype = _mimetype(message)
    key = None
    if media_storage_configured():
        key = f"media/{digest}"
        try:
            store_from_settings().put_if_absent(key, data, mimetype)
        except (BotoCoreError, ClientError) as exc:
            reason = f"media storage did not take the file: {type(exc).__name__}"
            raise MediaStorageUnavailable(reason) from None
    message["media"] = {"bytes": len(data), "sha256": digest, "mimetype": mimetype, "object": key}
    return message["media"]

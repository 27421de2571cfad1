"""Files inside events: they leave the body as it arrives, and never go into the database.

Evolution Go (with `WEBHOOK_FILES` on, its default, and no MinIO) posts a received
photo, video, document or voice note base64-encoded in `data.Message.base64` of
the `Message` event, whatever its size. The body is read as a stream
(`triggers.sources.files`): the file is decoded into a file of its own as it
arrives, and the stored event keeps, in place of `base64`, `data.Message.media`
(also the event's `media`):

    {"bytes": 51234, "sha256": "<hex>", "mimetype": "image/jpeg", "object": "media/<sha256>",
     "stored_in": "s3" | "local"}

`object` is the file's key in S3-compatible storage when `MEDIA_S3_*` is
configured, else in the local media directory (`WHATSAPP_MEDIA_DIR`); either
way under its SHA-256, so the same file twice is stored once, and only after the
event proved where it comes from. A file over `WHATSAPP_MEDIA_MAX_BYTES` is
dropped (`object` null, `dropped: "too_large"`, and the event's `media_dropped`):
its caption, command and metadata are kept. With Evolution Go's own MinIO the
event carries `data.Message.mediaUrl` instead, which is kept as it is.
"""

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from triggers.sources.files import FileSink, FileSplitter
from whatsapp.media import keep_local, media_storage_configured, spool_dir, store_from_settings

CHUNK_BYTES = 64 * 1024


class MediaStorageUnavailable(Exception):
    """The file could not be stored; the sender should try again later (answered 503)."""


@dataclass
class ArrivingFile:
    """A file taken out of a body as it streams in: its sink, and the file on disk it is written to."""

    max_bytes: int
    path: Path | None = None  # opened at the file's first byte

    def __post_init__(self) -> None:
        self.sink = FileSink(self.open_spool, self.max_bytes)

    def open_spool(self) -> IO[bytes]:
        handle = tempfile.NamedTemporaryFile(dir=spool_dir(), prefix="arriving-", delete=False)
        self.path = Path(handle.name)
        return handle

    def spooled(self) -> Path:
        """Return the file on disk; a file of no bytes opened nothing while it streamed, so it is made."""
        if self.path is None:
            self.open_spool().close()
        return self.path

    def close(self) -> None:
        """Close the spooled file (it stays on disk until `keep_file` moves it or `discard` removes it)."""
        if self.sink.out is not None:
            self.sink.out.close()

    def discard(self) -> None:
        """Remove whatever of the file is still spooled (a kept file was moved away already)."""
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def split_body(
    read: Callable[[int], bytes], length: int, path: tuple[str, ...], *, max_rest_bytes: int
) -> tuple[bytes, ArrivingFile | None]:
    """Return the body without the file at `path`, and the file (`None`: the body had none).

    Reads `length` bytes with `read`, `CHUNK_BYTES` at a time. Raises
    `InvalidPayload` (a file that is not base64) and `RestTooLarge`, having
    removed what it spooled; otherwise the caller keeps or discards the file.
    """
    arriving = ArrivingFile(settings.WHATSAPP_MEDIA_MAX_BYTES)
    splitter = FileSplitter(path, arriving.sink, max_rest_bytes)
    try:
        splitter.feed_all(_chunks(read, length))
    except BaseException:
        arriving.discard()
        raise
    arriving.close()
    return bytes(splitter.rest), arriving if splitter.found else None


def _chunks(read: Callable[[int], bytes], length: int) -> Iterator[bytes]:
    left = length
    while left > 0 and (chunk := read(min(CHUNK_BYTES, left))):
        left -= len(chunk)
        yield chunk


def _mimetype(message: dict) -> str:
    # The file's description sits beside it: imageMessage.mimetype, audioMessage.mimetype, ...
    for value in message.values():
        if isinstance(value, dict) and isinstance(value.get("mimetype"), str):
            return value["mimetype"]
    return "application/octet-stream"


def keep_file(holder: dict, arriving: ArrivingFile) -> dict:
    """Return the file's metadata, after storing it (or dropping it when too large) for `holder`.

    `holder` (the object the file rode in: `data.Message`) is changed in place:
    its `base64` gives way to `media`. Raises `MediaStorageUnavailable` when
    configured storage cannot take the file.
    """
    holder.pop("base64", None)
    sink = arriving.sink
    mimetype = _mimetype(holder)
    media = {"bytes": sink.size, "sha256": sink.sha256, "mimetype": mimetype, "object": None}
    if sink.dropped:
        media["dropped"] = sink.dropped
    else:
        key = f"media/{sink.sha256}"
        spooled = arriving.spooled()
        if media_storage_configured():
            try:
                store_from_settings().put_file_if_absent(key, spooled, mimetype)
            except (BotoCoreError, ClientError) as exc:
                reason = f"media storage did not take the file: {type(exc).__name__}"
                raise MediaStorageUnavailable(reason) from None
            media.update(object=key, stored_in="s3")
        else:
            keep_local(key, spooled)
            media.update(object=key, stored_in="local")
    holder["media"] = media
    return media

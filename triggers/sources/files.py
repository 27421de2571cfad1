"""A file inside a JSON body, taken out while the body streams in: memory stays flat at any size.

Evolution Go puts a received file base64-encoded inside the event
(`data.Message.base64`), with no size cap: a 100 MB document is a body of about
134 MB. `FileSplitter` reads the body chunk by chunk, keeps everything but that
one string (the small rest of the event, which `body.parse_json_body` then
parses), and decodes the string into a `FileSink` as it goes, which writes it
to a file of its own, counting its bytes and hashing it. Past the sink's limit
the file is dropped and the rest of it only read past: the event is kept.

Pure: it reads an iterator of byte chunks and writes a binary file object.
"""

import binascii
import hashlib
import re
from collections.abc import Callable, Iterable
from typing import IO

from triggers.sources.base import InvalidPayload

_STRUCTURE = re.compile(rb'["{}\[\]:,]')
_STRING_END = re.compile(rb'["\\]')
_BASE64_CHUNK = 64 * 1024


class RestTooLarge(InvalidPayload):
    """The body without its file is larger than allowed (answered 413)."""


class FileSink:
    """Where a streamed file's decoded bytes go: a binary file `open_out()` gives, up to `max_bytes`.

    The file is opened at the first byte (most events carry none). `size` and
    `sha256` describe the whole file, whether or not it was kept; `dropped` is
    `"too_large"` once it went past `max_bytes` (nothing more is written, and
    the caller discards what was).
    """

    def __init__(self, open_out: Callable[[], IO[bytes]], max_bytes: int):
        self.open_out, self.max_bytes = open_out, max_bytes
        self.out: IO[bytes] | None = None
        self.size = 0
        self.dropped = ""
        self._hash = hashlib.sha256()
        self._pending = b""  # base64 characters not yet a multiple of 4

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def feed(self, encoded: bytes) -> None:
        """Decode `encoded` (base64, any length) and keep it while under the limit."""
        data = self._pending + encoded
        whole = len(data) - len(data) % 4
        self._pending = data[whole:]
        if whole:
            self._keep(self._decode(data[:whole]))

    def finish(self) -> None:
        """Decode what is left; raises `InvalidPayload` if the base64 did not end whole."""
        if self._pending:
            raise InvalidPayload("data.Message.base64 is not valid base64 (cut short)")

    def _decode(self, encoded: bytes) -> bytes:
        try:
            return binascii.a2b_base64(encoded, strict_mode=True)
        except (binascii.Error, ValueError):
            raise InvalidPayload("data.Message.base64 is not valid base64") from None

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        self._hash.update(data)
        if self.dropped:
            return
        if self.size > self.max_bytes:
            self.dropped = "too_large"
            return
        if self.out is None:
            self.out = self.open_out()
        self.out.write(data)


class FileSplitter:
    """Split the string at `path` (a tuple of object keys) out of a JSON body fed in chunks.

    `rest` is the body with that string replaced by `null`, for the ordinary
    parser; the string's base64 goes to `sink`. `found` says whether the path
    held a string. The rest may not exceed `max_rest_bytes` (`RestTooLarge`).
    Only structure is tracked here; whether the rest is valid JSON is the
    parser's to say afterwards.
    """

    def __init__(self, path: tuple[str, ...], sink: FileSink, max_rest_bytes: int):
        self.path = tuple(key.encode() for key in path)
        self.sink, self.max_rest_bytes = sink, max_rest_bytes
        self.rest = bytearray()
        self.found = False
        # One frame per open container: [is_object, its current key, expecting a key].
        self._stack: list[list] = []
        self._mode = "structure"  # or "key", "string", "file"
        self._escaped = False
        self._key = bytearray()

    def feed_all(self, chunks: Iterable[bytes]) -> None:
        """Feed every chunk, then check that the file's base64 ended whole."""
        for chunk in chunks:
            self.feed(chunk)
        self.sink.finish()

    def feed(self, chunk: bytes) -> None:
        """Take one chunk of the body."""
        at = 0
        while at < len(chunk):
            at = getattr(self, f"_in_{self._mode}")(chunk, at)
        if len(self.rest) > self.max_rest_bytes:
            raise RestTooLarge(f"the event without its file exceeds {self.max_rest_bytes} bytes")

    def _in_structure(self, chunk: bytes, at: int) -> int:
        found = _STRUCTURE.search(chunk, at)
        if found is None:
            self.rest += chunk[at:]
            return len(chunk)
        mark = found.start()
        self.rest += chunk[at : mark + 1]
        char = chunk[mark : mark + 1]
        top = self._stack[-1] if self._stack else None
        if char == b"{":
            self._stack.append([True, None, True])
        elif char == b"[":
            self._stack.append([False, None, False])
        elif char in b"}]":
            if self._stack:
                self._stack.pop()
        elif char == b":" and top and top[0]:
            top[2] = False
        elif char == b"," and top and top[0]:
            top[2] = True
        elif char == b'"':
            if top and top[0] and top[2]:
                self._mode, self._key = "key", bytearray()
            elif self._at_path():
                del self.rest[-1]  # the opening quote: the value becomes null
                self.rest += b"null"
                self._mode, self.found = "file", True
            else:
                self._mode = "string"
        return mark + 1

    def _at_path(self) -> bool:
        keys = [frame[1] for frame in self._stack if frame[0]]
        return len(keys) == len(self._stack) and tuple(keys) == self.path

    def _in_key(self, chunk: bytes, at: int) -> int:
        end = self._string_end(chunk, at, copy=True)
        self._key += chunk[at:end]
        if self._mode == "structure":
            # An escaped key (rare) is compared as written; the path never needs escapes.
            self._stack[-1][1] = bytes(self._key[:-1])
        return end

    def _in_string(self, chunk: bytes, at: int) -> int:
        return self._string_end(chunk, at, copy=True)

    def _string_end(self, chunk: bytes, at: int, *, copy: bool) -> int:
        """Return where the open string stops in `chunk` (after its closing quote), copying it to the rest."""
        position = at
        while True:
            if self._escaped:
                self._escaped = False
                position += 1
                if position > len(chunk):
                    self._escaped = True
                    position = len(chunk)
                    break
                continue
            found = _STRING_END.search(chunk, position)
            if found is None:
                position = len(chunk)
                break
            position = found.end()
            if found.group() == b"\\":
                self._escaped = True
                continue
            self._mode = "structure"
            break
        if copy:
            self.rest += chunk[at:position]
        return position

    def _in_file(self, chunk: bytes, at: int) -> int:
        found = _STRING_END.search(chunk, at)
        end = len(chunk) if found is None else found.start()
        for start in range(at, end, _BASE64_CHUNK):
            self.sink.feed(chunk[start : min(start + _BASE64_CHUNK, end)])
        if found is None:
            return len(chunk)
        if found.group() == b"\\":
            raise InvalidPayload("data.Message.base64 is not valid base64 (it holds an escape)")
        self._mode = "structure"
        return found.end()

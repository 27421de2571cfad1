"""A file taken out of a JSON body as it streams: the rest parses as before, the file comes out whole."""

import base64
import io
import json
import os

import pytest

from triggers.sources.base import InvalidPayload
from triggers.sources.body import parse_json_body
from triggers.sources.files import FileSink, FileSplitter, RestTooLarge

PATH = ("data", "Message", "base64")
FILE = os.urandom(3000)


def body(file: bytes = FILE, **extra) -> bytes:
    event = {
        "event": "Message",
        "note": 'quotes \\" and "base64" and {braces} [brackets]: in a string',
        "data": {
            "Info": {"ID": "3EB0", "list": [{"base64": "not the file"}, "x", 1.5, None, True]},
            "Message": {
                "imageMessage": {"caption": "hi \\u00e9 \\\\"},
                "base64": base64.b64encode(file).decode(),
            },
        },
        **extra,
    }
    return json.dumps(event).encode()


def split(raw: bytes, chunk_size: int, max_bytes: int = 10**9, max_rest: int = 10**6):
    out = io.BytesIO()
    out.close = lambda: None  # keep it readable after the sink is done
    sink = FileSink(lambda: out, max_bytes)
    splitter = FileSplitter(PATH, sink, max_rest)
    splitter.feed_all(raw[i : i + chunk_size] for i in range(0, len(raw), chunk_size))
    return splitter, sink, out.getvalue()


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, 4096, 10**7])
def test_at_any_chunk_size_the_file_comes_out_whole_and_the_rest_parses_with_null_in_its_place(chunk_size):
    splitter, sink, written = split(body(), chunk_size)

    rest = parse_json_body(bytes(splitter.rest))
    assert written == FILE and splitter.found
    assert (sink.size, sink.dropped) == (len(FILE), "")
    assert rest["data"]["Message"]["base64"] is None
    assert rest["data"]["Info"]["list"][0] == {"base64": "not the file"}  # not at the path
    original = json.loads(body())
    original["data"]["Message"]["base64"] = None
    assert rest == original


def test_a_body_without_the_file_passes_through_unchanged():
    raw = json.dumps({"event": "Message", "data": {"Message": {"conversation": "hi"}}}).encode()

    splitter, sink, written = split(raw, 5)

    assert (bytes(splitter.rest), splitter.found, written, sink.size) == (raw, False, b"", 0)


def test_past_the_limit_the_file_is_dropped_but_still_described():
    splitter, sink, written = split(body(), 100, max_bytes=1000)

    assert (sink.dropped, sink.size, sink.sha256 != "") == ("too_large", len(FILE), True)
    assert len(written) <= 1000  # what was written before the limit; the caller removes it
    assert parse_json_body(bytes(splitter.rest))["data"]["Message"]["base64"] is None


def test_base64_that_is_not_base64_is_invalid():
    raw = body().replace(base64.b64encode(FILE)[:8], b"!!!!!!!!")

    with pytest.raises(InvalidPayload, match="not valid base64"):
        split(raw, 64)


def test_base64_cut_short_is_invalid():
    raw = json.dumps({"data": {"Message": {"base64": "QUJD"[:3]}}}).encode()

    with pytest.raises(InvalidPayload, match="cut short"):
        split(raw, 64)


def test_the_rest_of_the_event_is_bounded():
    with pytest.raises(RestTooLarge):
        split(body(padding="x" * 5000), 512, max_rest=4000)


def test_a_second_file_at_the_same_path_makes_the_rest_invalid_json():
    head, tail = body().rsplit(b'"base64": "', 1)  # the one inside data.Message
    raw = head + b'"base64": "QUJD", "base64": "' + tail

    splitter, _, _ = split(raw, 64)

    with pytest.raises(InvalidPayload, match="more than once"):
        parse_json_body(bytes(splitter.rest))

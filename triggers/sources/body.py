"""The body's rules, the same for every sender: a JSON object every database can store.

Also the admin's JSON fields decode with these rules (`StrictJSONDecoder`).
"""

import json
import math
import re
from collections import Counter
from typing import Any

from triggers.sources.base import InvalidPayload


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
    """A JSON decoder with the body's rules: no NaN/Infinity, no overflowing numbers, no key twice,
    nothing a database cannot store (NUL, unpaired surrogates, deep nesting), no integer too long
    for Python to read.

    For forms (the admin's JSON fields): it raises `json.JSONDecodeError` for
    all of these, which a form reports as invalid JSON rather than as a server
    error (and re-shows as typed: a lone surrogate never reaches the page).
    """

    def __init__(self, **kwargs: Any):
        super().__init__(
            parse_constant=_as_decode_error(_reject_constant),
            parse_float=_as_decode_error(_finite_float),
            object_pairs_hook=_as_decode_error(_object_without_duplicate_keys),
        )

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        try:
            value = super().decode(s, *args, **kwargs)
        except RecursionError:
            raise json.JSONDecodeError("JSON is nested too deeply", "", 0) from None
        except json.JSONDecodeError:
            raise
        except ValueError as exc:  # an integer past Python's digit limit
            raise json.JSONDecodeError(str(exc)[:100], "", 0) from None
        try:
            check_storable(value)
        except InvalidPayload as exc:
            raise json.JSONDecodeError(str(exc), "", 0) from None
        return value


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

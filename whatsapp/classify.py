"""Which gateway failures are worth retrying: the one classifier for every call.

Evolution Go's status code alone does not tell (docs/evolution-go.md, "Errors"):
"number not on WhatsApp" and "invalid media type" come back as 500 (permanent),
"client disconnected" too (transient), a QR code that is not ready yet is a 400
worth asking again, and an unactivated install answers 503 LICENSE_REQUIRED (a
setup error that retrying cannot fix). A 500 with an empty body is a server
panic: unknown.
"""

import requests

TRANSIENT = "transient"
PERMANENT = "permanent"
UNKNOWN = "unknown"

# Categories worth another attempt; unknown failures are retried like transient ones.
RETRYABLE = frozenset({TRANSIENT, UNKNOWN})

_TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
# What the server says when the WhatsApp session itself is down (the phone is offline,
# the session expired): nothing was sent, and nothing will be until it reconnects.
_NOT_CONNECTED_TEXTS = ("client disconnected", "no active session found", "failed to connect client")
_PERMANENT_500_TEXTS = (
    "is not registered on whatsapp",
    "invalid file format",
    "invalid media type",
    "invalid sticker url",
    "could not parse phone",
    "instance already exists",
    "record not found",
    # Documents refused in WhatsApp channels; the server says it in Portuguese.
    "não são suportados em canais",
)
_TRANSIENT_400_TEXTS = ("no qr code available",)


def classify_response(status_code: int, error_text: str = "", error_code: str = "") -> str | None:
    """Return the category of a gateway answer, or `None` for success (2xx).

    `error_text` is the body's `error`, `error_code` its `code`. Permanent:
    4xx other than 429 and 400 "no QR code available", the 500s the server
    gives for requests that can never succeed (not registered, invalid file
    format or media type, invalid sticker URL, unparsable phone, instance
    exists, record not found, documents in channels), 503 LICENSE_REQUIRED.
    Transient: 429, 502, 503, 504, 400 "no QR code available", 500 "client
    disconnected" / "no active session found" / "failed to connect client".
    Anything else (an unrecognised or empty 500, a 3xx) is unknown.
    """
    if 200 <= status_code < 300:
        return None
    text = error_text.lower()
    if status_code == 503 and error_code == "LICENSE_REQUIRED":
        return PERMANENT
    if status_code in _TRANSIENT_STATUSES:
        return TRANSIENT
    if status_code == 400 and any(part in text for part in _TRANSIENT_400_TEXTS):
        return TRANSIENT
    if 400 <= status_code < 500:
        return PERMANENT
    if status_code == 500 and any(part in text for part in _PERMANENT_500_TEXTS):
        return PERMANENT
    if status_code == 500 and any(part in text for part in _NOT_CONNECTED_TEXTS):
        return TRANSIENT
    return UNKNOWN


def means_not_connected(status_code: int | None, error_text: str = "", exc: Exception | None = None) -> bool:
    """Return whether a failed call says the instance is not connected (or the server is unreachable).

    True for 500 `client disconnected` / `no active session found` / `failed
    to connect client`, and for a refused connection. Such a send surely did
    not go out, so it may wait and be sent later under the same id. A timeout
    is not one of them: that send may have gone out.
    """
    if exc is not None:
        return isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout)
    return status_code == 500 and any(part in error_text.lower() for part in _NOT_CONNECTED_TEXTS)


def classify_exception(exc: requests.RequestException) -> str:
    """Return the category of a request that got no answer.

    Refused or reset connections, DNS failures and timeouts are transient; a
    malformed URL or other request that can never be sent is permanent.
    """
    if isinstance(
        exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    ):
        return TRANSIENT
    return PERMANENT

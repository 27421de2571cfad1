"""Which gateway failures are worth retrying: the one classifier for every call.

Evolution Go's status code alone does not tell: "number not on WhatsApp" and
"invalid media type" come back as 500 (permanent), "client disconnected" too
(transient), and an unactivated install answers 503 LICENSE_REQUIRED (a setup
error that retrying cannot fix).
"""

import requests

TRANSIENT = "transient"
PERMANENT = "permanent"
UNKNOWN = "unknown"

# Categories worth another attempt; unknown failures are retried like transient ones.
RETRYABLE = frozenset({TRANSIENT, UNKNOWN})

_TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
_TRANSIENT_500_TEXTS = ("client disconnected", "no active session found", "failed to connect client")
_PERMANENT_500_TEXTS = ("is not registered on whatsapp", "invalid file format", "invalid media type")


def classify_response(status_code: int, error_text: str = "", error_code: str = "") -> str | None:
    """Return the category of a gateway answer, or `None` for success (2xx).

    `error_text` is the body's `error`, `error_code` its `code`. Permanent:
    4xx other than 429, 500 "not registered" / "invalid file format" /
    "invalid media type", 503 LICENSE_REQUIRED. Transient: 429, 502, 503,
    504, 500 "client disconnected" / "no active session found" / "failed to
    connect client". Anything else (an unrecognised 500, a 3xx) is unknown.
    """
    if 200 <= status_code < 300:
        return None
    text = error_text.lower()
    if status_code == 503 and error_code == "LICENSE_REQUIRED":
        return PERMANENT
    if status_code in _TRANSIENT_STATUSES:
        return TRANSIENT
    if 400 <= status_code < 500:
        return PERMANENT
    if status_code == 500 and any(part in text for part in _PERMANENT_500_TEXTS):
        return PERMANENT
    if status_code == 500 and any(part in text for part in _TRANSIENT_500_TEXTS):
        return TRANSIENT
    return UNKNOWN


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

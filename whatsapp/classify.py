"""Which gateway failures are worth retrying: the one classifier for every call.

Evolution Go's status code alone does not tell (docs/evolution-go.md, "Errors"):
"number not on WhatsApp" and "invalid media type" come back as 500 (permanent),
"client disconnected" too (transient), a QR code that is not ready yet is a 400
worth asking again, and an unactivated install answers 503 LICENSE_REQUIRED (a
setup error that retrying cannot fix). A 500 with an empty body is a server
panic: unknown.
"""

import re

import requests

TRANSIENT = "transient"
PERMANENT = "permanent"
UNKNOWN = "unknown"

# Categories worth another attempt; unknown failures are retried like transient ones.
RETRYABLE = frozenset({TRANSIENT, UNKNOWN})

_TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})

# Each text the server can answer, as a lower-case part of its `error`, with the file of
# evolution-go 0.6.1 it comes from (docs/evolution-go.md, "Errors"). One list per meaning.

# The WhatsApp session itself is down (the phone is offline, the session expired or was
# dropped under the call): nothing was sent, nothing will be until it reconnects. Transient,
# and these feed the gateway breaker.
SESSION_DOWN_TEXTS = (
    "client disconnected",  # every pkg/*/service/*_service.go
    "no active session found",  # every pkg/*/service/*_service.go
    "failed to connect client",  # pkg/sendMessage/service/send_service.go (also "... after N attempts")
    "websocket not connected",  # whatsmeow's ErrNotConnected, under any call
    "info query timed out",  # whatsmeow's ErrIQTimedOut: the session stopped answering
    "client is not connected to whatsapp",  # pkg/user/service/user_service.go
    "client is not logged in to whatsapp",  # user_service.go: logged out, until paired again
)

# Requests that can never succeed as they are: sent once, never retried.
PERMANENT_TEXTS = (
    "is not registered on whatsapp",  # send_service.go: "number <n> is not registered on WhatsApp"
    "not found in whatsapp response",  # send_service.go: "number <n> not found in WhatsApp response"
    "invalid file format",  # send_service.go: "Invalid file format: 'image/gif'. Only ..."
    "invalid media type",  # send_service.go, pkg/message/service/message_service.go
    "invalid sticker url",  # send_service.go
    "could not parse phone",  # send_service.go 351
    "could not parse formatted phone",  # send_service.go 364
    "invalid phone number",  # send_service.go, message_service.go, chat, group, user services
    "invalid number format",  # pkg/utils/utils.go CreateJID
    "number cannot be empty",  # pkg/utils/utils.go CreateJID
    "no valid number processed",  # pkg/utils/utils.go
    "missing id in payload",  # message_service.go 137, 142
    "error marking message as read",  # message_service.go 255
    "invalid messagetype",  # send_service.go
    "missing stanzaid in contextinfo",  # send_service.go (a quoted message without its id)
    "missing participant in contextinfo",  # send_service.go
    "failed to convert image to webp",  # send_service.go 1429, 1453 (stickers)
    "failed to decode image",  # send_service.go (stickers)
    "failed to encode image to webp",  # send_service.go (stickers)
    "error during conversion",  # send_service.go 785-804 (audio to opus)
    "duração não encontrada",  # send_service.go (audio: no duration found)
    "formato de duração não encontrado",  # send_service.go (audio: no duration format)
    "erro ao decodificar o áudio",  # send_service.go (audio: undecodable)
    "failed to marshal message",  # send_service.go
    "instance already exists",  # pkg/instance/service/instance_service.go
    "record not found",  # the server's database (gorm): no such instance or message
    "não são suportados em canais",  # send_service.go: documents refused in channels
    "não pode ser combinado",  # send_service.go: a pix button with other buttons
    "não podem ser misturados",  # send_service.go: reply buttons mixed with others
    "máximo de 3 botões",  # send_service.go: more than 3 reply buttons
    "invalid group jid",  # pkg/group/service/group_service.go
    "error parse community jid",  # pkg/community, pkg/label services
)

# A 400 that is worth asking again: the QR code is being made.
TRANSIENT_400_TEXTS = ("no qr code available",)  # instance_service.go

# Go's net/http error for a URL the server had to fetch (media, link previews, stickers):
# `Get "<url>": <why>` (send_service.go 528, 1094-1096), also behind "failed to fetch
# image from URL: ". The URL is ours to fix unless what follows says the host was
# unreachable or slow for now.
_FETCH_ERROR = re.compile(r'(?:^|: )(?:get|post|head) "[^"]*": (?P<why>.*)$')
FETCH_TRANSIENT_TEXTS = (
    "connection refused",
    "connection reset",
    "i/o timeout",
    "timeout",
    "deadline exceeded",
    "eof",
    "no route to host",
    "network is unreachable",
    "host is down",
    "server misbehaving",
    "temporary failure in name resolution",
    "tls handshake timeout",
    "broken pipe",
)
# The server's own HTTP client, when the fetched URL answered an error status
# (send_service.go: "requisição falhou com status: <code>, ..."): a 5xx may pass.
_FETCH_STATUS = re.compile(r"requisição falhou com status: (?P<status>\d{3})")


def _fetch_category(text: str) -> str | None:
    """Return the category of a failed fetch of a URL the caller gave, or `None` if `text` is not one."""
    if found := _FETCH_STATUS.search(text):
        return TRANSIENT if found["status"].startswith("5") or found["status"] == "429" else PERMANENT
    if found := _FETCH_ERROR.search(text):
        return TRANSIENT if any(part in found["why"] for part in FETCH_TRANSIENT_TEXTS) else PERMANENT
    return None


def classify_response(status_code: int, error_text: str = "", error_code: str = "") -> str | None:
    """Return the category of a gateway answer, or `None` for success (2xx).

    `error_text` is the body's `error`, `error_code` its `code`. Permanent:
    4xx other than 429 and 400 "no QR code available", a 500 whose text is in
    `PERMANENT_TEXTS`, a failed fetch of a bad URL, 503 LICENSE_REQUIRED.
    Transient: 429, 502, 503, 504, 400 "no QR code available", a 500 whose
    text is in `SESSION_DOWN_TEXTS`, a fetch that found the host unreachable or
    slow. Anything else (an unrecognised or empty 500, a 3xx) is unknown.
    """
    if 200 <= status_code < 300:
        return None
    text = error_text.lower()
    if status_code == 503 and error_code == "LICENSE_REQUIRED":
        return PERMANENT
    if status_code in _TRANSIENT_STATUSES:
        return TRANSIENT
    if status_code == 400 and any(part in text for part in TRANSIENT_400_TEXTS):
        return TRANSIENT
    if 400 <= status_code < 500:
        return PERMANENT
    if status_code != 500:
        return UNKNOWN
    if any(part in text for part in SESSION_DOWN_TEXTS):
        return TRANSIENT
    if any(part in text for part in PERMANENT_TEXTS):
        return PERMANENT
    return _fetch_category(text) or UNKNOWN


def means_not_connected(status_code: int | None, error_text: str = "", exc: Exception | None = None) -> bool:
    """Return whether a failed call says the instance is not connected (or the server is unreachable).

    True for a 500 whose text is in `SESSION_DOWN_TEXTS`, and for a refused
    connection. Such a send surely did not go out, so it may wait and be sent
    later under the same id. A timeout is not one of them: that send may have
    gone out.
    """
    if exc is not None:
        return isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout)
    return status_code == 500 and any(part in error_text.lower() for part in SESSION_DOWN_TEXTS)


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

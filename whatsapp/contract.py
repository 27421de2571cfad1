"""What Evolution Go requires of each request, as its handlers check it (docs/evolution-go.md).

One table for two users: the client refuses a request that breaks it before
sending anything, with the server's own message, and the sandbox answers such
a request as the server does (400 and that message). The checks run in the
server's order, so the first failing one is the message the server would give.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# `subscribe` names for POST /instance/connect (pkg/internal/event_types/event_types.go).
EVENT_TYPES = (
    "MESSAGE",
    "SEND_MESSAGE",
    "READ_RECEIPT",
    "PRESENCE",
    "HISTORY_SYNC",
    "CHAT_PRESENCE",
    "CALL",
    "CONNECTION",
    "LABEL",
    "CONTACT",
    "GROUP",
    "NEWSLETTER",
    "QRCODE",
)
SUBSCRIBE_ALL = "ALL"

MEDIA_TYPES = ("image", "video", "ptv", "audio", "document")


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _non_zero(value: Any) -> bool:
    # The server's float fields default to 0, so it reads an exact 0 as missing.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value != 0


def _two_or_more(value: Any) -> bool:
    return isinstance(value, list) and len(value) >= 2


@dataclass(frozen=True)
class Requirement:
    """One check a handler makes: the field (a dotted path), and the 400 message when it fails."""

    field: str
    message: str
    holds: Callable[[Any], bool] = _present


def _r(field: str, message: str, holds: Callable[[Any], bool] = _present) -> Requirement:
    return Requirement(field, message, holds)


_NUMBER = _r("number", "phone number is required")

# pkg/sendMessage/handler/send_handler.go, pkg/message/handler/message_handler.go,
# pkg/user/handler/user_handler.go, pkg/instance/handler/instance_handler.go.
REQUIREMENTS: dict[str, tuple[Requirement, ...]] = {
    "/send/text": (_NUMBER, _r("text", "message body is required")),
    "/send/link": (_NUMBER, _r("text", "message body is required")),
    "/send/media": (_NUMBER, _r("url", "URL is required"), _r("type", "media type is required")),
    "/send/poll": (
        _NUMBER,
        _r("question", "question is required"),
        _r("options", "minimum 2 options are required", _two_or_more),
    ),
    "/send/sticker": (_NUMBER, _r("sticker", "sticker is required")),
    "/send/location": (
        _NUMBER,
        _r("latitude", "latitude is required", _non_zero),
        _r("longitude", "longitude is required", _non_zero),
        _r("address", "address is required"),
        _r("name", "name is required"),
    ),
    "/send/contact": (
        _NUMBER,
        _r("vcard.phone", "contact phone number is required"),
        _r("vcard.fullName", "contact full name is required"),
    ),
    "/message/react": (_NUMBER, _r("reaction", "message reaction is required")),
    "/message/presence": (_NUMBER, _r("state", "state is required")),
    "/message/markread": (_NUMBER, _r("id", "id is required")),
    "/message/status": (_r("id", "id is required"),),
    "/message/delete": (_r("chat", "chat is required"), _r("messageId", "messageId is required")),
    "/message/edit": (
        _r("chat", "chat is required"),
        _r("message", "message is required"),
        _r("messageId", "messageId is required"),
    ),
    "/user/check": (_NUMBER,),
    "/instance/pair": (_r("phone", "phone is required"),),
    "/instance/create": (_r("name", "name is required"), _r("token", "token is required")),
    "/instance/proxy": (_r("host", "host is required"), _r("port", "port is required")),
}


# The multipart form of /send/media: a `file` field instead of `url`.
MULTIPART_REQUIREMENTS: dict[str, tuple[Requirement, ...]] = {
    "/send/media": (_NUMBER, _r("type", "media type is required"), _r("file", "file is required")),
}


def _lookup(body: dict, path: str) -> Any:
    value: Any = body
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def route_of(path: str) -> str:
    """Return the table's key for a request path (`/instance/proxy/<id>` is `/instance/proxy`)."""
    return "/instance/proxy" if path.startswith("/instance/proxy/") else path


# Routes whose JSON `number` a middleware checks before the handler runs
# (pkg/middleware/jid_validation_middleware.go; /send/contact has its own, laxer one).
_NUMBER_MIDDLEWARE = {
    "/send/text",
    "/send/link",
    "/send/media",
    "/send/poll",
    "/send/sticker",
    "/send/location",
    "/message/react",
    "/message/presence",
    "/message/markread",
    "/user/check",
    "/instance/pair",
}


def _number_refusal(body: dict) -> str | None:
    number = body.get("number")
    if number == "":
        return "number is required and cannot be empty"
    if number is not None and not isinstance(number, (str, list)):
        return "number must be a string or array of strings"
    return None


def refusal(path: str, body: dict, *, multipart: bool = False) -> str | None:
    """Return the server's 400 message for `body` sent to `path`, or `None` when it passes.

    A `multipart` body holds the form fields and, under `file`, the upload.
    Paths the table does not know pass: only what the server checks is checked.
    """
    if not multipart and route_of(path) in _NUMBER_MIDDLEWARE and (message := _number_refusal(body)):
        return message
    table = MULTIPART_REQUIREMENTS if multipart else REQUIREMENTS
    for requirement in table.get(route_of(path), ()):
        if not requirement.holds(_lookup(body, requirement.field)):
            return requirement.message
    return None


def unknown_event_types(names: list[str]) -> list[str]:
    """Return the names in `names` that the server would silently drop from `subscribe`."""
    return [name for name in names if name not in EVENT_TYPES and name != SUBSCRIBE_ALL]

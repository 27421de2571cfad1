"""WhatsApp through Evolution Go (and Evolution API v2): messages, receipts, connection events.

Evolution Go signs nothing: it sends the instance token in every payload
(Evolution API v2 calls it `apikey`), and that token is the trigger's secret.
Besides messages it reports what became of ours (`Receipt`), its connection
(`Connected`) and echoes of our own sends; a received file may ride in the body,
base64-encoded in `data.Message.base64`, so its bodies may be large.
"""

from collections.abc import Iterable
from typing import Any

from triggers.sources.base import (
    CONNECTION,
    MESSAGE,
    NOTHING_SIGNED,
    OWN_MESSAGE,
    RECEIPT,
    AuthenticationFailed,
    NativeKeys,
    Proof,
    Sender,
    first_text,
    lookup_path,
    same,
    text_or_none,
)

# Where WhatsApp puts what a person wrote: a text, or the caption of a media message.
_TEXT_PATHS = (
    "conversation",
    "extendedTextMessage.text",
    "imageMessage.caption",
    "videoMessage.caption",
    "documentMessage.caption",
)
_QUOTED_ID_PATHS = tuple(
    f"{kind}.contextInfo.stanzaID"
    for kind in ("extendedTextMessage", "imageMessage", "videoMessage", "documentMessage")
)

# Evolution API v2's message statuses (src/utils/renderStatus.ts) as receipt states.
_V2_RECEIPT_STATES = {"DELIVERY_ACK": "Delivered", "READ": "Read", "PLAYED": "Read"}

RECEIPT_EVENTS = ("Receipt", "messages.update")

# The instance's connection as each event reports it (Evolution Go's `CONNECTION`
# subscription, pkg/whatsmeow/service/whatsmeow.go; Evolution API v2's
# `connection.update` by its `data.state`). None of them is a message.
CONNECTED, DISCONNECTED, LOGGED_OUT, BANNED = "connected", "disconnected", "logged_out", "banned"
CONNECTION_EVENTS = {
    "Connected": CONNECTED,
    "PairSuccess": CONNECTED,
    "Disconnected": DISCONNECTED,
    "ConnectFailure": DISCONNECTED,
    "LoggedOut": LOGGED_OUT,
    "TemporaryBan": BANNED,
    "connection.update": None,  # by its state, below
}
_V2_CONNECTION_STATES = {"open": CONNECTED, "close": DISCONNECTED}


def account(payload: dict) -> str | None:
    """Return the instance token the payload carries (Evolution API v2 calls it `apikey`), or `None`."""
    given = payload.get("instanceToken", payload.get("apikey"))
    return given if isinstance(given, str) and given else None


def verify(secrets: Iterable[str], payload: dict, **_: Any) -> Proof:
    given = account(payload)
    if given is None:
        raise AuthenticationFailed("missing instanceToken (or apikey) in the payload")
    if not any(same(given, s) for s in secrets):
        raise AuthenticationFailed("instanceToken does not match")
    return NOTHING_SIGNED


def parse(headers: dict, payload: dict) -> dict:
    data = payload.get("data")
    event = {"event_type": payload.get("event"), "data": data}
    if payload.get("event") in CONNECTION_EVENTS:
        event.update(instance=payload.get("instanceName") or payload.get("instance"), **_connection(payload))
    elif payload.get("event") == "messages.update":  # Evolution API v2: a status change
        event.update(
            instance=payload.get("instance"),
            message_ids=[lookup_path(data, "keyId")],  # the WhatsApp id; `messageId` is a row id
            state=_V2_RECEIPT_STATES.get(str(lookup_path(data, "status"))),
            chat=lookup_path(data, "remoteJid"),
            sender=lookup_path(data, "remoteJid"),
            from_me=lookup_path(data, "fromMe"),
        )
    elif isinstance(lookup_path(data, "key"), dict):  # Evolution API v2
        event.update(
            instance=payload.get("instance"),
            message_id=lookup_path(data, "key.id"),
            sender=lookup_path(data, "key.remoteJid"),
            chat=lookup_path(data, "key.remoteJid"),
            from_me=lookup_path(data, "key.fromMe"),
            text=first_text(lookup_path(data, "message"), _TEXT_PATHS),
        )
    elif payload.get("event") == "Receipt":  # Evolution Go: delivered / read
        event.update(
            instance=payload.get("instanceName"),
            message_ids=lookup_path(data, "MessageIDs"),
            state=payload.get("state"),
            chat=lookup_path(data, "Chat"),
            sender=lookup_path(data, "Sender"),
        )
    else:  # Evolution Go
        message = lookup_path(data, "Message")
        if isinstance(message, dict):
            # A file's metadata is ours to write when we store the file: one the sender
            # names (`media`, an object key of our bucket) is dropped, never trusted.
            message.pop("media", None)
        event.update(
            instance=payload.get("instanceName"),
            message_id=lookup_path(data, "Info.ID"),
            sender=lookup_path(data, "Info.Sender"),
            chat=lookup_path(data, "Info.Chat"),
            from_me=lookup_path(data, "Info.IsFromMe"),
            is_group=lookup_path(data, "Info.IsGroup"),
            push_name=lookup_path(data, "Info.PushName"),
            media_type=text_or_none(lookup_path(data, "Info.MediaType")),
            media_url=text_or_none(lookup_path(message, "mediaUrl")),  # the server's MinIO URL, if any
            quoted_message_id=first_text(message, _QUOTED_ID_PATHS),
            text=first_text(message, _TEXT_PATHS),
        )
    return event


def _connection(payload: dict) -> dict:
    """Return what a connection event says: `connection` (or `None`: nothing to act on) and a ban's length.

    `TemporaryBan` carries `data.expire`, whatsmeow's `time.Duration`: nanoseconds
    from now (`ban_seconds`; `None` when absent or not a number).
    """
    name, data = payload.get("event"), payload.get("data")
    connection = CONNECTION_EVENTS[name]
    if name == "connection.update":
        connection = _V2_CONNECTION_STATES.get(str(lookup_path(data, "state")))
    found = {"connection": connection}
    if connection == BANNED:
        expire = lookup_path(data, "expire")
        valid = isinstance(expire, (int, float)) and not isinstance(expire, bool) and expire >= 0
        found["ban_seconds"] = expire / 1e9 if valid else None
        found["ban_reason"] = text_or_none(lookup_path(data, "reason"))
    return found


def native_keys(headers: dict, payload: dict) -> NativeKeys:
    return [(None, lookup_path(payload, "data.Info.ID")), (None, lookup_path(payload, "data.key.id"))]


def kind(event: dict) -> str:
    """Return what a parsed event is: a receipt, a connection event, our own message, or a message.

    Evolution Go echoes every send as `SendMessage`, and reports messages
    written on the phone as `Message` with `IsFromMe`; answering either would
    answer ourselves forever.
    """
    event_type = event.get("event_type")
    if event_type in RECEIPT_EVENTS:
        return RECEIPT
    if event_type in CONNECTION_EVENTS:
        return CONNECTION
    if event_type == "SendMessage" or event.get("from_me") is True:
        return OWN_MESSAGE
    return MESSAGE


SENDER = Sender(
    verify,
    parse,
    native_keys,
    kind=kind,
    max_body_setting="WHATSAPP_WEBHOOK_MAX_BODY_BYTES",
    file_path=("data", "Message", "base64"),
    account=account,
)

"""Telegram bots: the `secret_token` header (or any way a custom sender proves itself), keyed by update."""

from triggers.sources.base import NativeKeys, Sender, lookup_path
from triggers.sources.custom import native_keys as custom_native_keys
from triggers.sources.custom import verify


def parse(headers: dict, payload: dict) -> dict:
    message = payload.get("message") or payload.get("edited_message") or {}
    return {
        "event_type": "message" if message else "update",
        "chat_id": lookup_path(message, "chat.id"),
        "text": lookup_path(message, "text"),
        "data": payload,
    }


def native_keys(headers: dict, payload: dict) -> NativeKeys:
    # Telegram re-delivers an update until it is answered; `update_id` names it.
    return [(None, payload.get("update_id")), *custom_native_keys(headers, payload)]


SENDER = Sender(verify, parse, native_keys)

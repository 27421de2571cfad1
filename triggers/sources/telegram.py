"""Telegram bots: the `secret_token` header (or any way a custom sender proves itself)."""

from triggers.sources.base import Sender, lookup_path
from triggers.sources.custom import native_keys, verify


def parse(headers: dict, payload: dict) -> dict:
    message = payload.get("message") or payload.get("edited_message") or {}
    return {
        "event_type": "message" if message else "update",
        "chat_id": lookup_path(message, "chat.id"),
        "text": lookup_path(message, "text"),
        "data": payload,
    }


SENDER = Sender(verify, parse, native_keys)

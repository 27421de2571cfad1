"""Discord relays: proven like a custom sender, events with a channel and content."""

from triggers.sources.base import Sender
from triggers.sources.custom import native_keys, verify


def parse(headers: dict, payload: dict) -> dict:
    return {
        "event_type": payload.get("type", "message"),
        "channel_id": payload.get("channel_id"),
        "content": payload.get("content"),
        "data": payload,
    }


SENDER = Sender(verify, parse, native_keys)

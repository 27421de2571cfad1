"""WhatsApp events parse as Evolution Go sends them, and our own messages never run an action."""

import copy

import pytest

from tests.receive.test_idempotency_keys import EVOLUTION_GO_MESSAGE
from tests.support.signing import SECRET, webhook_path
from triggers import sources
from triggers.models import TriggerExecution
from triggers.sources.base import MESSAGE

RECEIPT = {
    "event": "Receipt",
    "state": "Read",
    "data": {
        "Chat": "5511999999999@s.whatsapp.net",
        "Sender": "5511999999999@s.whatsapp.net",
        "IsFromMe": False,
        "IsGroup": False,
        "MessageIDs": ["3EB0ABCDEF0123456789AB", "3EB0ABCDEF0123456789AC"],
        "Timestamp": "2026-11-29T02:00:05Z",
        "Type": "read",
        "MessageSender": "5500000000000@s.whatsapp.net",
    },
    "instanceToken": SECRET,
    "instanceId": "9f1c2d3e-0000-4000-8000-000000000001",
    "instanceName": "main",
}


def message(**changes) -> dict:
    """Return the Evolution Go `Message` event with `Info` fields and the `Message` replaced."""
    event = copy.deepcopy(EVOLUTION_GO_MESSAGE)
    event["data"]["Info"].update(changes.pop("info", {}))
    if "content" in changes:
        event["data"]["Message"] = changes.pop("content")
    event.update(changes)
    return event


def parse(payload: dict) -> dict:
    return sources.parse_event("whatsapp", {}, payload)


@pytest.mark.parametrize("kind", ["imageMessage", "videoMessage", "documentMessage"])
def test_a_media_caption_is_the_events_text(kind):
    event = parse(message(info={"Type": "media", "MediaType": "image"}, content={kind: {"caption": "/ping"}}))

    assert (event["text"], event["media_type"]) == ("/ping", "image")


def test_groups_and_quoted_messages_are_parsed():
    content = {"extendedTextMessage": {"text": "yes", "contextInfo": {"stanzaID": "3EB0QUOTED000000000000"}}}

    event = parse(message(info={"IsGroup": True, "Chat": "120363025246125486@g.us"}, content=content))

    assert (event["is_group"], event["chat"], event["quoted_message_id"]) == (
        True,
        "120363025246125486@g.us",
        "3EB0QUOTED000000000000",
    )
    assert event["text"] == "yes"


def test_a_receipt_parses_into_its_message_ids_state_chat_and_sender():
    event = parse(RECEIPT)

    assert event["event_type"] == "Receipt"
    assert event["message_ids"] == ["3EB0ABCDEF0123456789AB", "3EB0ABCDEF0123456789AC"]
    assert (event["state"], event["chat"], event["sender"]) == (
        "Read",
        "5511999999999@s.whatsapp.net",
        "5511999999999@s.whatsapp.net",
    )


@pytest.mark.parametrize(
    "payload",
    [message(event="SendMessage", info={"IsFromMe": True}), message(info={"IsFromMe": True})],
    ids=["the echo of a send", "written on the phone"],
)
def test_our_own_messages_are_ignored_and_run_nothing(client, make_trigger, payload):
    trigger = make_trigger(source="whatsapp", action_type="whatsapp", action_payload={"message": "hi"})

    response = client.post(webhook_path(trigger), payload, content_type="application/json")

    assert (response.status_code, response.json()) == (200, {"status": "ignored", "reason": "own_message"})
    assert not TriggerExecution.objects.exists()


def test_a_filter_that_asks_for_our_own_messages_gets_them(client, make_trigger):
    trigger = make_trigger(source="whatsapp", event_filter={"from_me": True})

    response = client.post(
        webhook_path(trigger), message(info={"IsFromMe": True}), content_type="application/json"
    )

    assert response.status_code == 202


def test_someone_elses_message_still_runs(client, make_trigger):
    trigger = make_trigger(source="whatsapp")

    response = client.post(webhook_path(trigger), message(), content_type="application/json")

    assert response.status_code == 202


def test_other_sources_are_never_our_own_messages():
    event = sources.parse_event("custom", {}, {"from_me": True, "event": "SendMessage"})

    assert sources.spec_for("custom").kind(event) == MESSAGE

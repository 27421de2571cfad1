"""WhatsApp's record: the instance token, messages, receipts, connection events, echoes, files."""

import pytest

from triggers.sources import whatsapp
from triggers.sources.base import (
    CONNECTION,
    MESSAGE,
    NOTHING_SIGNED,
    OWN_MESSAGE,
    RECEIPT,
    AuthenticationFailed,
)

TOKEN = "instance-token-0123456789"


def message(**info) -> dict:
    return {
        "event": "Message",
        "instanceToken": TOKEN,
        "data": {
            "Info": {"ID": "3EB0AA", "Sender": "5511@s.whatsapp.net", "IsFromMe": False, **info},
            "Message": {"conversation": "hello"},
        },
    }


def test_the_instance_token_in_the_payload_proves_the_sender_but_signs_nothing():
    assert whatsapp.verify(secrets=[TOKEN], payload=message()) == NOTHING_SIGNED
    assert whatsapp.verify(secrets=[TOKEN], payload={"apikey": TOKEN}) == NOTHING_SIGNED


def test_a_wrong_or_missing_token_is_refused():
    with pytest.raises(AuthenticationFailed, match="does not match"):
        whatsapp.verify(secrets=[TOKEN], payload={"instanceToken": "other"})
    with pytest.raises(AuthenticationFailed, match="missing"):
        whatsapp.verify(secrets=[TOKEN], payload={})


def test_an_evolution_go_message_is_parsed_with_its_id_sender_and_text():
    event = whatsapp.parse({}, message())

    assert (event["message_id"], event["sender"], event["text"]) == ("3EB0AA", "5511@s.whatsapp.net", "hello")
    assert whatsapp.native_keys({}, message())[0] == (None, "3EB0AA")


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (message(), MESSAGE),
        (message(IsFromMe=True), OWN_MESSAGE),
        ({"event": "SendMessage", "data": {}}, OWN_MESSAGE),
        ({"event": "Receipt", "state": "Read", "data": {"MessageIDs": ["a"]}}, RECEIPT),
        ({"event": "messages.update", "data": {"keyId": "a", "status": "READ"}}, RECEIPT),
        ({"event": "Connected", "data": {}}, CONNECTION),
    ],
)
def test_the_sender_says_what_each_event_is(payload, kind):
    assert whatsapp.kind(whatsapp.parse({}, payload)) == kind


def test_a_file_rides_in_data_message_and_the_body_limit_is_whatsapps_own():
    assert whatsapp.SENDER.file_path == ("data", "Message", "base64")
    assert whatsapp.SENDER.max_body_setting == "WHATSAPP_WEBHOOK_MAX_BODY_BYTES"


def test_a_media_object_the_sender_names_is_dropped_from_the_event():
    forged = message()
    forged["data"]["Message"]["media"] = {"object": "media/not-ours"}

    event = whatsapp.parse({}, forged)

    assert "media" not in event and "media" not in event["data"]["Message"]

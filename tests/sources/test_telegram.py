"""Telegram's record: proven like a custom sender, a message's chat and text."""

from triggers.sources import custom, telegram


def test_a_message_update_is_parsed_into_chat_and_text():
    event = telegram.parse({}, {"update_id": 7, "message": {"chat": {"id": 42}, "text": "/start"}})

    assert (event["event_type"], event["chat_id"], event["text"]) == ("message", 42, "/start")


def test_an_update_without_a_message_is_an_update():
    assert telegram.parse({}, {"update_id": 7, "callback_query": {}})["event_type"] == "update"


def test_it_proves_itself_like_a_custom_sender():
    assert telegram.SENDER.verify is custom.verify


def test_an_update_is_keyed_by_its_update_id_so_a_re_delivery_runs_once():
    from triggers.sources import extract_idempotency_key

    payload = {"update_id": 871234, "message": {"chat": {"id": 42}, "text": "/start"}}
    event = telegram.parse({}, payload)

    assert extract_idempotency_key("telegram", {}, payload, event) == "871234"

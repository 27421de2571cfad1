"""Discord's record: proven like a custom sender, a channel and its content."""

from triggers.sources import custom, discord


def test_a_relay_event_is_parsed_into_channel_and_content():
    event = discord.parse({}, {"channel_id": "c1", "content": "hi"})

    assert (event["event_type"], event["channel_id"], event["content"]) == ("message", "c1", "hi")


def test_it_proves_itself_like_a_custom_sender():
    assert discord.SENDER.verify is custom.verify

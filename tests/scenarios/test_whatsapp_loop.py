"""The whole loop against the sandbox's webhooks: a message in, one answer out, none to ourselves."""

import pytest

from tests.support.processes import run_worker
from tests.support.sandbox import SANDBOX_TOKEN
from triggers.models import TriggerExecution
from whatsapp.client import EvolutionClient

pytestmark = pytest.mark.process  # a real server receives the sandbox's webhooks

FROM = "5511977776666"


def test_an_incoming_message_gets_exactly_one_reply_and_our_echoes_get_none(connected, sandbox):
    connected(["ALL"], action_payload={"message": "You said: {{ text }}"})

    sandbox.incoming(FROM, text="hello")
    assert sandbox.answered("Message")[0]["status"] == 202
    run_worker(**sandbox.env())
    # Our reply comes back as a SendMessage echo; the phone's own message as IsFromMe.
    echo = sandbox.answered("SendMessage")[0]
    sandbox.incoming(FROM, text="sent from the phone", from_me=True)
    sandbox.answered("Message", count=2)
    run_worker(**sandbox.env())

    assert [m["body"]["text"] for m in sandbox.messages()] == ["You said: hello"]
    assert sandbox.messages()[0]["number"] == f"{FROM}@s.whatsapp.net"
    assert echo["status"] == 200
    assert {w["status"] for w in sandbox.answered("Receipt", count=2)} == {200}  # receipts run nothing
    assert TriggerExecution.objects.count() == 1


def test_the_echo_and_the_phones_own_messages_are_answered_ignored_own_message(connected, sandbox):
    connected(["MESSAGE", "SEND_MESSAGE"], action_payload={"message": "You said: {{ text }}"})

    sandbox.incoming(FROM, text="from the phone", from_me=True)
    sandbox.answered("Message")
    EvolutionClient(sandbox.url, SANDBOX_TOKEN).send_text(FROM, "sent by a person on the CLI")
    sandbox.answered("SendMessage")

    assert not TriggerExecution.objects.exists()


def test_a_captioned_image_with_a_command_runs_it_like_a_text(connected, sandbox):
    connected(
        ["MESSAGE"], event_filter={"text": "/ping"}, action_payload={"message": "pong ({{ media_type }})"}
    )

    sandbox.incoming(FROM, text="/ping", media_type="image")
    assert sandbox.answered("Message")[0]["status"] == 202
    run_worker(**sandbox.env())

    assert [m["body"]["text"] for m in sandbox.messages()] == ["pong (image)"]


def test_each_event_posted_twice_runs_once(connected, sandbox):
    sandbox.state.duplicate_webhooks = True
    connected(["MESSAGE"], action_payload={"message": "once: {{ text }}"})

    sandbox.incoming(FROM, text="hi")
    statuses = sorted(w["status"] for w in sandbox.answered("Message", count=2))
    run_worker(**sandbox.env())

    assert statuses == [200, 202]  # the copy is a duplicate
    assert [m["body"]["text"] for m in sandbox.messages()] == ["once: hi"]

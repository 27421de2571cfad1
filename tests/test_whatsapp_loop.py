"""The whole loop against the sandbox's webhooks: a message in, one answer out, none to ourselves."""

import time

import pytest
import requests

from tests.support.processes import run_worker
from tests.support.sandbox import SANDBOX_TOKEN
from tests.support.signing import webhook_path
from triggers.models import TriggerExecution
from whatsapp.client import EvolutionClient

pytestmark = pytest.mark.process  # a real server receives the sandbox's webhooks

FROM = "5511977776666"


def wait_for(condition, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def answered(sandbox, event: str, count: int = 1) -> list[dict]:
    """Return the server's answers to the sandbox's `event` webhooks, once `count` have come."""
    return wait_for(
        lambda: (
            (
                found := [
                    w
                    for w in requests.get(f"{sandbox.url}/_sandbox/webhooks", timeout=5).json()["webhooks"]
                    if w["event"] == event and w["status"] is not None
                ]
            )
            and len(found) >= count
            and found
        )
    )


@pytest.fixture
def connected(server, sandbox, make_trigger):
    """Return a function that makes a trigger and points the sandbox's webhooks at it."""

    def connect(subscribe: list[str], **fields):
        trigger = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN, action_type="whatsapp", **fields)
        result = EvolutionClient(sandbox.url, SANDBOX_TOKEN).connect(
            server.url + webhook_path(trigger), subscribe=subscribe
        )
        assert result.ok, result.error
        return trigger

    return connect


def incoming(sandbox, **message) -> None:
    answer = requests.post(f"{sandbox.url}/_sandbox/incoming", json={"from": FROM, **message}, timeout=5)
    assert answer.status_code == 200, answer.text


def test_an_incoming_message_gets_exactly_one_reply_and_our_echoes_get_none(connected, sandbox):
    connected(["MESSAGE", "SEND_MESSAGE"], action_payload={"message": "You said: {{ text }}"})

    incoming(sandbox, text="hello")
    assert answered(sandbox, "Message")[0]["status"] == 202
    run_worker(**sandbox.env())
    # Our reply comes back as a SendMessage echo; the phone's own message as IsFromMe.
    echo = answered(sandbox, "SendMessage")[0]
    incoming(sandbox, text="sent from the phone", from_me=True)
    answered(sandbox, "Message", count=2)
    run_worker(**sandbox.env())

    assert [m["body"]["text"] for m in sandbox.messages()] == ["You said: hello"]
    assert sandbox.messages()[0]["number"] == f"{FROM}@s.whatsapp.net"
    assert echo["status"] == 200
    assert TriggerExecution.objects.count() == 1


def test_the_echo_and_the_phones_own_messages_are_answered_ignored_own_message(connected, sandbox):
    connected(["MESSAGE", "SEND_MESSAGE"], action_payload={"message": "You said: {{ text }}"})

    incoming(sandbox, text="from the phone", from_me=True)
    answered(sandbox, "Message")
    EvolutionClient(sandbox.url, SANDBOX_TOKEN).send_text(FROM, "sent by a person on the CLI")
    answered(sandbox, "SendMessage")

    assert not TriggerExecution.objects.exists()


def test_a_captioned_image_with_a_command_runs_it_like_a_text(connected, sandbox):
    connected(
        ["MESSAGE"], event_filter={"text": "/ping"}, action_payload={"message": "pong ({{ media_type }})"}
    )

    incoming(sandbox, text="/ping", media_type="image")
    assert answered(sandbox, "Message")[0]["status"] == 202
    run_worker(**sandbox.env())

    assert [m["body"]["text"] for m in sandbox.messages()] == ["pong (image)"]


def test_each_event_posted_twice_runs_once(connected, sandbox):
    sandbox.state.duplicate_webhooks = True
    connected(["MESSAGE"], action_payload={"message": "once: {{ text }}"})

    incoming(sandbox, text="hi")
    statuses = sorted(w["status"] for w in answered(sandbox, "Message", count=2))
    run_worker(**sandbox.env())

    assert statuses == [200, 202]  # the copy is a duplicate
    assert [m["body"]["text"] for m in sandbox.messages()] == ["once: hi"]

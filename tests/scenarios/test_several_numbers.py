"""Two WhatsApp numbers on one Evolution Go server, end to end: each one's trouble is its own.

A real server receives the sandbox's webhooks for both instances; real workers
send. Number A is the sandbox's first instance, B its second, each with its token.
"""

import pytest
import requests

from tests.support.processes import run_worker
from tests.support.sandbox import SANDBOX_GLOBAL_KEY, SANDBOX_TOKEN, Sandbox
from tests.support.signing import webhook_path
from triggers.models import SentMessage, Trigger, TriggerExecution
from triggers.operate import instances
from whatsapp.models import Instance

pytestmark = pytest.mark.process

TOKEN_B = "token-of-number-b-0123456789"
FROM = "5511977776666"


@pytest.fixture
def two_numbers(server, settings):
    """Return the sandbox, with triggers `a` and `b` answering on numbers A and B, webhooks connected."""
    sandbox = Sandbox(instances={"number-b": TOKEN_B})
    settings.EVOLUTION_GO_URL, settings.EVOLUTION_GO_KEY = sandbox.url, SANDBOX_GLOBAL_KEY
    triggers = {}
    for name, token in (("a", SANDBOX_TOKEN), ("b", TOKEN_B)):
        number = Instance.objects.create(name=name, token=token, url=sandbox.url)
        triggers[name] = Trigger.objects.create(
            name=name,
            slug=name,
            source="whatsapp",
            instance=number,
            event_filter={"event_type": "Message"},
            action_type="whatsapp",
            action_payload={"message": f"{name} says: {{{{ text }}}}"},
        )
        assert instances.connect(number, base_url=server.url).ok
    yield sandbox, triggers
    sandbox.stop()


def worker(sandbox) -> None:
    run_worker(EVOLUTION_GO_URL=sandbox.url, GATEWAY_RELEASE_INTERVAL_SECONDS="0")


def set_state(sandbox, instance: str, **state) -> None:
    answer = requests.post(f"{sandbox.url}/_sandbox/state", json={"instance": instance, **state}, timeout=5)
    assert answer.status_code == 200


def test_a_message_on_b_is_answered_from_b_with_bs_token(two_numbers):
    sandbox, _ = two_numbers

    sandbox.incoming(FROM, text="hi", instance="number-b")
    assert sandbox.answered("Message")[0]["status"] == 202
    worker(sandbox)

    [reply] = sandbox.messages()
    assert (reply["instance"], reply["body"]["text"]) == ("number-b", "b says: hi")
    assert SentMessage.objects.get().instance.name == "b"


def test_b_down_holds_only_bs_sends_and_bs_connected_releases_them_once(two_numbers):
    sandbox, _ = two_numbers
    set_state(sandbox, "number-b", connected=False)  # B's phone goes offline: Disconnected
    sandbox.answered("Disconnected")

    sandbox.incoming(FROM, text="for a", instance="sandbox")
    sandbox.incoming(FROM, text="for b", instance="number-b")
    sandbox.answered("Message", count=2)
    worker(sandbox)

    by_trigger = dict(TriggerExecution.objects.values_list("trigger__slug", "status"))
    assert by_trigger == {"a": "completed", "b": "held"}
    assert [m["instance"] for m in sandbox.messages()] == ["sandbox"]

    set_state(sandbox, "number-b", connected=True)  # back: Connected asks for a probe
    sandbox.answered("Connected")
    worker(sandbox)  # the probe, then the trial send
    worker(sandbox)  # anything released after the trial

    assert dict(TriggerExecution.objects.values_list("trigger__slug", "status")) == {
        "a": "completed",
        "b": "completed",
    }
    texts = sorted((m["instance"], m["body"]["text"]) for m in sandbox.messages())
    assert texts == [("number-b", "b says: for b"), ("sandbox", "a says: for a")]


def test_a_receipt_for_bs_message_posted_as_a_matches_nothing(two_numbers, client):
    sandbox, triggers = two_numbers
    sandbox.incoming(FROM, text="hi", instance="number-b")
    sandbox.answered("Message")
    worker(sandbox)
    sandbox.answered("Receipt", count=2)  # B's own receipts: delivered, read
    message = SentMessage.objects.get()
    SentMessage.objects.update(delivered_at=None, read_at=None)
    receipt = {
        "event": "Receipt",
        "state": "Read",
        "data": {"MessageIDs": [message.message_id], "Type": "read"},
        "instanceToken": SANDBOX_TOKEN,
    }

    answer = client.post(webhook_path(triggers["a"]), receipt, content_type="application/json")

    message.refresh_from_db()
    assert answer.json() == {"status": "receipt", "matched": 0}
    assert (message.delivered_at, message.read_at) == (None, None)


def test_a_daily_cap_on_a_holds_as_sends_past_it_while_b_sends(two_numbers):
    sandbox, _ = two_numbers
    Instance.objects.filter(name="a").update(daily_cap=1)

    for text in ("one", "two"):
        sandbox.incoming(FROM, text=text, instance="sandbox")
    sandbox.incoming(FROM, text="three", instance="number-b")
    sandbox.answered("Message", count=3)
    worker(sandbox)

    statuses = sorted(TriggerExecution.objects.values_list("trigger__slug", "status", "hold_reason"))
    assert statuses == [("a", "completed", ""), ("a", "held", "daily_cap"), ("b", "completed", "")]


def test_an_event_carrying_as_token_at_bs_trigger_is_refused(two_numbers, client):
    _, triggers = two_numbers
    event = {"event": "Message", "data": {"Info": {"ID": "X1", "Chat": FROM}}, "instanceToken": SANDBOX_TOKEN}

    answer = client.post(webhook_path(triggers["b"]), event, content_type="application/json")

    assert answer.status_code == 401
    assert not TriggerExecution.objects.exists()


def test_an_instance_with_triggers_cannot_be_deleted(two_numbers, staff_client):
    answer = staff_client.delete("/api/whatsapp/instances/a/")

    assert answer.status_code == 409
    assert Instance.objects.filter(name="a").exists()

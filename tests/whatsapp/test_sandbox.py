"""The sandbox is the server's double: connection events, files in events, retries, its answer shapes."""

import base64
import time

import pytest
import requests

from tests.support.processes import free_port
from tests.support.sandbox import SANDBOX_TOKEN
from whatsapp.client import EvolutionClient
from whatsapp.sandbox import SandboxState


@pytest.fixture
def listened(sandbox):
    """Return the sandbox, its webhook pointed at a port nothing listens on (every post is recorded)."""
    url = f"http://127.0.0.1:{free_port()}/hook"
    EvolutionClient(sandbox.url, SANDBOX_TOKEN).connect(url, subscribe=["MESSAGE", "CONNECTION"])
    set_state(sandbox, webhook_retry_seconds=0.01)  # the next event's first post comes sooner
    return sandbox


def posted(sandbox, count: int = 1, timeout: float = 5.0) -> list[dict]:
    """Return the first attempt of each webhook the sandbox posted, once there are `count`."""
    deadline = time.monotonic() + timeout
    while True:
        first = [hook["body"] for hook in sandbox.webhooks() if hook["attempt"] == 1]
        if len(first) >= count or time.monotonic() > deadline:
            return first
        time.sleep(0.05)


def set_state(sandbox, **state) -> None:
    requests.post(f"{sandbox.url}/_sandbox/state", json=state, timeout=5).raise_for_status()


def test_state_changes_post_the_servers_connection_events(listened):
    set_state(listened, connected=False)
    set_state(listened, connected=True)
    set_state(listened, logged_out=True)
    set_state(listened, banned_until=3600)

    events = posted(listened, 4)

    assert [event["event"] for event in events] == ["Disconnected", "Connected", "LoggedOut", "TemporaryBan"]
    assert events[3]["data"]["expire"] == 3600 * 10**9  # whatsmeow's Duration: nanoseconds
    assert all(event["instanceToken"] == SANDBOX_TOKEN for event in events)


@pytest.mark.parametrize(
    ("media_type", "size", "mimetype"),
    [
        ("image", 50_000, "image/jpeg"),
        ("audio", 20_000, "audio/ogg; codecs=opus"),
        ("sticker", 3000, "image/png"),
    ],
)
def test_someone_sends_a_file_and_it_arrives_base64_in_the_event(listened, media_type, size, mimetype):
    requests.post(
        f"{listened.url}/_sandbox/incoming",
        json={"from": "5511999999999", "media_type": media_type, "media_bytes": size, "text": "see this"},
        timeout=5,
    ).raise_for_status()

    [event] = posted(listened)
    message = event["data"]["Message"]

    assert len(base64.b64decode(message["base64"])) == size
    assert message[f"{media_type}Message"]["mimetype"] == mimetype
    assert event["data"]["Info"]["MediaType"] == media_type


def test_webhooks_are_retried_30_seconds_apart_like_the_server_unless_told_otherwise():
    assert SandboxState(instance_token="t", global_key="k").webhook_retry_seconds == 30.0



def test_a_ptv_upload_is_refused_as_the_server_refuses_it(sandbox):
    answer = requests.post(
        f"{sandbox.url}/send/media",
        headers={"apikey": SANDBOX_TOKEN},
        data={"number": "5511999999999", "type": "ptv"},
        files={"file": ("clip.mp4", b"\x00" * 100, "video/mp4")},
        timeout=5,
    )

    assert (answer.status_code, answer.json()) == (500, {"error": "invalid media type"})


def test_edit_and_delete_answer_the_new_messages_id_as_the_server_does(sandbox):
    client = EvolutionClient(sandbox.url, SANDBOX_TOKEN)
    target = client.send_text("5511999999999", "hi").message_id

    edited = client.edit_message("5511999999999", target, "hello")
    deleted = client.delete_message("5511999999999", target)

    for answer in (edited, deleted):
        assert set(answer.data) == {"messageId", "timestamp"} and answer.data["messageId"] != target


def test_the_send_route_re_applies_the_country_fixes_to_a_phone_jid_as_the_server_does(sandbox):
    client = EvolutionClient(sandbox.url, SANDBOX_TOKEN)

    client.send_text("5531999998888@s.whatsapp.net", "hi")

    assert sandbox.messages()[0]["number"] == "553199998888@s.whatsapp.net"

"""Every `manage.py evolution` command against the sandbox, in process: what it sends and prints."""

import json

import pytest
from django.core.management.base import CommandError

from evonexus.redaction import redact_secrets
from tests.support.commands import run_command
from tests.support.sandbox import SANDBOX_GLOBAL_KEY, SANDBOX_TOKEN
from whatsapp.client import EvolutionClient
from whatsapp.sandbox import INSTANCE_ID

NUMBER = "5511999999999"

pytestmark = pytest.mark.django_db  # the command acts as an instance: a row


def evolution(*args: str) -> tuple[int, dict]:
    """Return the command's exit code and the JSON it printed."""
    code, output = run_command("evolution", *args)
    return code, json.loads(output)


def sent_id(sandbox) -> str:
    code, output = evolution("send_text", "--number", NUMBER, "--text", "hello")
    assert code == 0, output
    return output["message_id"]


def test_instances_never_prints_a_token(sandbox):
    code, output = evolution("instances")

    printed = json.dumps(output)
    assert code == 0
    assert output["data"][0]["name"] == "sandbox"
    assert SANDBOX_TOKEN not in printed and SANDBOX_GLOBAL_KEY not in printed
    assert output["data"][0]["token"] == "[redacted]"


def test_instance_info_prints_one_instance_without_its_token(sandbox):
    code, output = evolution("instance_info", "--id", INSTANCE_ID)

    assert (code, output["data"]["id"], output["data"]["token"]) == (0, INSTANCE_ID, "[redacted]")


def test_set_proxy_sets_the_instances_proxy(sandbox):
    code, _ = evolution("set_proxy", "--id", INSTANCE_ID, "--host", "proxy.internal", "--port", "3128")

    assert code == 0
    assert sandbox.state.first.proxy["host"] == "proxy.internal"


def test_check_says_whether_numbers_are_on_whatsapp(sandbox):
    code, output = evolution("check", "--number", NUMBER, "--number", "5511900000000")

    users = output["data"]["Users"]
    assert code == 0
    assert [user["IsInWhatsapp"] for user in users] == [True, False]


def test_react_sends_the_reaction_under_the_target_messages_id(sandbox):
    target = sent_id(sandbox)

    code, output = evolution("react", "--number", NUMBER, "--id", target, "--reaction", "👍")

    assert code == 0
    assert output["data"]["Info"]["ID"] == target  # the server's quirk
    assert output["data"]["Info"]["Type"] == "ReactionMessage"


def test_mark_read_edit_and_delete_a_message(sandbox):
    target = sent_id(sandbox)

    results = [
        evolution("mark_read", "--number", NUMBER, "--id", target),
        evolution("edit_message", "--chat", NUMBER, "--id", target, "--text", "hello, fixed"),
        evolution("delete_message", "--chat", NUMBER, "--id", target),
    ]

    assert [code for code, _ in results] == [0, 0, 0]
    assert all("timestamp" in output["data"] for _, output in results)


def test_message_status_tells_what_whatsapp_reported(sandbox):
    target = sent_id(sandbox)

    code, output = evolution("message_status", "--id", target)
    unknown_code, unknown = evolution("message_status", "--id", "3EB0000000000000000000")

    assert (code, output["data"]["result"]["status"]) == (0, "Read")
    assert (unknown_code, unknown["error"], unknown["category"]) == (1, "record not found", "permanent")


def test_set_presence_shows_typing(sandbox):
    code, output = evolution("set_presence", "--number", NUMBER, "--state", "composing")

    assert code == 0 and output["ok"] is True


def test_send_link_needs_text_and_puts_the_url_in_it(sandbox):
    code, _ = evolution("send_link", "--number", NUMBER, "--text", "read this", "--url", "https://example.com")

    assert code == 0
    body = sandbox.messages()[0]["body"]
    assert body["text"] == "read this https://example.com" and "url" not in body
    with pytest.raises(CommandError, match="--text"):
        evolution("send_link", "--number", NUMBER, "--url", "https://example.com")


def test_send_location_needs_a_name_and_an_address(sandbox):
    with pytest.raises(CommandError, match="--name"):
        evolution("send_location", "--number", NUMBER, "--latitude", "-23.5", "--longitude", "-46.6")


def test_a_local_file_without_s3_is_uploaded_to_the_gateway_as_multipart(sandbox, settings, tmp_path):
    settings.MEDIA_S3_ENDPOINT_URL = ""
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG fake image bytes")

    code, output = evolution("send_media", "--number", NUMBER, "--media", str(photo), "--caption", "look")

    message = sandbox.messages()[0]
    assert code == 0, output
    assert sandbox.attempts()[0]["multipart"] is True
    assert message["body"]["filename"] == "photo.png" and message["body"]["type"] == "image"
    assert message["body"]["file_bytes"] == len(photo.read_bytes())


def test_connect_subscribes_to_messages_receipts_and_connection_events_by_default(sandbox):
    code, output = evolution("connect", "--webhook-url", "http://127.0.0.1:1/hook")

    assert code == 0
    assert output["data"]["eventString"] == "MESSAGE,READ_RECEIPT,CONNECTION"


def test_connect_refuses_an_event_name_the_server_would_drop_before_any_request(sandbox):
    code, output = evolution("connect", "--webhook-url", "http://127.0.0.1:1/hook", "--subscribe", "MESSAGES")

    assert code == 1
    assert "unknown event type(s) MESSAGES" in output["error"]
    assert sandbox.state.first.webhook_url == ""


def test_connect_checks_what_the_server_stored(sandbox, monkeypatch):
    # A server that drops a subscription: the answer no longer matches the request.
    monkeypatch.setattr("whatsapp.sandbox.subscriptions_for", lambda names: ["MESSAGE"])

    code, output = evolution("connect", "--webhook-url", "http://127.0.0.1:1/hook")

    assert code == 1
    assert "stored webhook" in output["error"]


def test_the_proxy_password_inside_the_servers_proxy_string_is_never_printed(sandbox):
    proxy = {"host": "proxy.internal", "port": "3128", "username": "u", "password": "hunter2-secret"}
    client = EvolutionClient(sandbox.url, SANDBOX_TOKEN, SANDBOX_GLOBAL_KEY)
    answer = client.create_instance("shop", "shop-token-0123456789abcdef", proxy=proxy)
    assert "hunter2-secret" in answer.data["proxy"]  # the server answers it, inside a JSON string

    code, output = evolution("create_instance", "--name", "shop2", "--token", "shop2-token-0123456789abcd")
    printed = json.dumps(redact_secrets(answer.as_dict()))

    assert code == 0 and "shop2-token-0123456789abcd" not in json.dumps(output)
    assert "hunter2-secret" not in printed and "shop-token-0123456789abcdef" not in printed


# --- several numbers ------------------------------------------------------------------


@pytest.fixture
def two_numbers(sandbox):
    """Return the sandbox with the instances `a` (its first) and `signed` (its second) on record."""
    from tests.support.signing import SECRET
    from whatsapp.models import Instance

    Instance.objects.create(name="a", token=SANDBOX_TOKEN)
    Instance.objects.create(name="signed", token=SECRET)
    return sandbox


def test_with_several_instances_a_command_without_instance_stops_and_lists_them(two_numbers):
    code, output = evolution("send_text", "--number", NUMBER, "--text", "hello")

    assert code == 1
    assert output["error"] == "several WhatsApp instances (a, signed): name one with --instance"
    assert two_numbers.attempts() == []


def test_instance_names_the_number_a_command_acts_as(two_numbers):
    code, _ = evolution("send_text", "--instance", "signed", "--number", NUMBER, "--text", "hello")

    assert code == 0
    assert two_numbers.messages()[0]["instance"] == "signed"


def test_an_unknown_instance_is_refused_with_the_list(two_numbers):
    code, output = evolution("status", "--instance", "nope")

    assert (code, output["error"]) == (1, "no WhatsApp instance 'nope'; instances: a, signed")


def test_instances_are_added_listed_updated_and_removed_and_no_output_shows_a_token(db, settings):
    from whatsapp.models import Instance

    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""
    added = evolution("instance_add", "--name", "shop", "--token", "the-shops-token-0123", "--daily-cap", "5")
    taken = evolution("instance_add", "--name", "other", "--token", "the-shops-token-0123")
    updated = evolution("instance_update", "--name", "shop", "--token", "a-rotated-token-0123")
    listed = evolution("instance_list")
    removed = evolution("instance_remove", "--name", "shop")

    printed = json.dumps([added, taken, updated, listed, removed])
    assert added[0] == 0 and added[1]["instance"]["daily_cap"] == 5
    assert taken == (1, {"ok": False, "error": "another instance holds this token"})
    assert [each["name"] for each in listed[1]["instances"]] == ["shop"]
    assert removed == (0, {"ok": True, "removed": "shop"})
    assert "the-shops-token" not in printed and "a-rotated-token" not in printed
    assert not Instance.objects.exists()


def test_an_instance_its_triggers_name_is_not_removed(db, make_trigger, settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""
    make_trigger(source="whatsapp", slug="inbox", secret="the-inbox-token-0123")

    code, output = evolution("instance_remove", "--name", "inbox")

    assert code == 1 and "has triggers (inbox)" in output["error"]


def test_connect_points_the_instances_webhook_at_its_trigger(sandbox, make_trigger, settings):
    settings.PUBLIC_BASE_URL = "https://hooks.example.com"
    trigger = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN)

    code, _ = evolution("connect", "--instance", trigger.instance.name)

    assert code == 0
    assert sandbox.state.first.webhook_url == f"https://hooks.example.com{trigger.get_webhook_path()}"
    assert sandbox.state.first.subscriptions == ["MESSAGE", "READ_RECEIPT", "CONNECTION"]

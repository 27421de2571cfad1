"""Triggers send WhatsApp messages, and scripts answer the sender: the command loop."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.receive.test_idempotency_keys import EVOLUTION_API_V2_UPSERT, EVOLUTION_GO_MESSAGE
from tests.support.forms import admin_trigger_form, write_script
from tests.support.processes import run_worker
from tests.support.signing import SECRET, webhook_path
from triggers.execute import executor
from triggers.models import Trigger, TriggerExecution
from triggers.receive.recording import record_event
from whatsapp.client import derive_message_id


def whatsapp_trigger(make_trigger, message="Hello {{ push_name }}, you said: {{ text }}", **fields):
    return make_trigger(
        source="whatsapp", action_type="whatsapp", action_payload={"message": message}, **fields
    )


def run(trigger, event) -> TriggerExecution:
    execution_id = record_event(trigger, event, None).execution_id
    executor.execute(execution_id)
    return TriggerExecution.objects.get(pk=execution_id)


def test_it_sends_the_rendered_template_to_the_events_sender(sandbox, make_trigger, client):
    trigger = whatsapp_trigger(make_trigger)

    response = client.post(webhook_path(trigger), EVOLUTION_GO_MESSAGE, content_type="application/json")
    executor.execute(response.json()["execution_id"])

    execution = TriggerExecution.objects.get()
    assert (execution.status, execution.attempts, execution.error_category) == ("completed", 1, None)
    [message] = sandbox.messages()
    assert message["number"] == "5511999999999@s.whatsapp.net"
    assert message["body"]["text"] == "Hello Ana, you said: /status"
    assert message["id"] == derive_message_id(f"evonexus:send:{execution.send_id}")
    assert message["id"] in execution.result_summary


def test_it_does_not_html_escape_the_message(sandbox, make_trigger):
    trigger = whatsapp_trigger(make_trigger, message="{{ data.note }}", recipient="5511988887777")

    run(trigger, {"data": {"note": "Tom & Jerry <3 'quotes'"}})

    assert sandbox.messages()[0]["body"]["text"] == "Tom & Jerry <3 'quotes'"


@pytest.mark.parametrize(
    ("event", "number"),
    [
        (
            {"sender": "5511977776666@s.whatsapp.net", "chat": "120363025246125486@g.us"},
            "120363025246125486@g.us",
        ),
        ({"sender": "5511977776666@s.whatsapp.net"}, "5511977776666@s.whatsapp.net"),
        ({"data": {"phone": "5511966665555"}}, "5511966665555@s.whatsapp.net"),
        ({"data": {"from": 5511955554444}}, "5511955554444@s.whatsapp.net"),
    ],
    ids=["group-chat", "sender", "custom-phone", "custom-from"],
)
def test_it_finds_the_recipient_in_the_event(sandbox, make_trigger, event, number):
    run(whatsapp_trigger(make_trigger, message="hi"), event)

    assert sandbox.messages()[0]["number"] == number


def test_it_answers_evolution_api_v2_events_at_the_remote_jid(sandbox, make_trigger, client):
    trigger = whatsapp_trigger(make_trigger, message="got {{ text }}")

    response = client.post(webhook_path(trigger), EVOLUTION_API_V2_UPSERT, content_type="application/json")
    executor.execute(response.json()["execution_id"])

    assert sandbox.messages()[0]["number"] == "5511988887777@s.whatsapp.net"
    assert sandbox.messages()[0]["body"]["text"] == "got oi"


def test_the_triggers_recipient_wins_over_the_sender(sandbox, make_trigger):
    run(
        whatsapp_trigger(make_trigger, message="alert", recipient="+55 11 90000-1111"),
        {"sender": "5511977776666"},
    )

    assert sandbox.messages()[0]["number"] == "5511900001111@s.whatsapp.net"


def test_no_recipient_is_a_permanent_failure_with_a_clear_error(sandbox, make_trigger):
    execution = run(whatsapp_trigger(make_trigger, message="hi"), {"data": {}})

    assert (execution.status, execution.error_category) == ("failed", "permanent")
    assert "no recipient" in execution.error
    assert sandbox.attempts() == []


def test_transient_gateway_failures_end_in_the_dead_letter_queue(sandbox, sleeps, make_trigger):
    # A down instance makes the execution wait instead (execute/test_breaker.py).
    sandbox.fail_next(*[{"status": 502, "error": "bad gateway"}] * 3)

    execution = run(whatsapp_trigger(make_trigger, message="hi"), {"sender": "5511977776666"})

    assert (execution.status, execution.error_category, execution.attempts) == (
        "failed_retryable",
        "transient",
        3,
    )
    assert "bad gateway" in execution.error
    assert len(sleeps) == 2


def test_an_unrecognised_gateway_failure_is_retryable_as_unknown(sandbox, sleeps, make_trigger):
    sandbox.fail_next(*[{"status": 500, "error": "panic: nil map"}] * 3)

    execution = run(whatsapp_trigger(make_trigger, message="hi"), {"sender": "5511977776666"})

    assert (execution.status, execution.error_category) == ("failed_retryable", "unknown")


def test_a_number_not_on_whatsapp_fails_permanently_after_one_attempt(sandbox, sleeps, make_trigger):
    execution = run(whatsapp_trigger(make_trigger, message="hi"), {"sender": "5511900000000"})

    assert (execution.status, execution.error_category, execution.attempts) == ("failed", "permanent", 1)
    assert sleeps == []


def test_a_send_that_recovers_completes_with_its_attempts_counted(sandbox, sleeps, make_trigger):
    sandbox.fail_next({"status": 502}, {"status": 502})

    execution = run(whatsapp_trigger(make_trigger, message="hi"), {"sender": "5511977776666"})

    assert (execution.status, execution.attempts) == ("completed", 3)
    assert len({attempt["id"] for attempt in sandbox.attempts()}) == 1


def test_a_template_that_does_not_compile_is_refused_by_the_api(staff_client):
    response = staff_client.post(
        "/api/triggers/",
        {
            "name": "Bad",
            "slug": "bad",
            "source": "whatsapp",
            "action_type": "whatsapp",
            "action_payload": {"message": "Hi {% if %}"},
        },
        format="json",
    )

    assert response.status_code == 400
    assert "does not compile" in response.json()["action_payload"][0]


def test_a_template_that_does_not_compile_is_a_form_error_in_the_admin(admin_client):
    form = admin_trigger_form(
        source="whatsapp", action_type="whatsapp", action_payload=json.dumps({"message": "{% for x %}"})
    )

    response = admin_client.post("/admin/triggers/trigger/add/", form)

    assert response.status_code == 200
    assert "does not compile" in response.content.decode()
    assert not Trigger.objects.exists()


def test_an_invalid_recipient_is_refused_when_the_trigger_is_saved(staff_client):
    response = staff_client.post(
        "/api/triggers/",
        {
            "name": "Bad",
            "slug": "bad",
            "source": "custom",
            "action_type": "whatsapp",
            "action_payload": {"message": "hi"},
            "recipient": "not a number",
        },
        format="json",
    )

    assert response.status_code == 400
    assert "recipient" in response.json()


def test_a_script_replies_to_the_sender_of_an_evolution_go_message(
    sandbox, make_trigger, scripts_dir, client
):
    write_script(scripts_dir, "status.sh", "cat >/dev/null; echo 'all systems go'")
    trigger = make_trigger(
        source="whatsapp", action_payload={"script": "status.sh", "reply_via_whatsapp": True}
    )

    response = client.post(webhook_path(trigger), EVOLUTION_GO_MESSAGE, content_type="application/json")
    executor.execute(response.json()["execution_id"])

    [message] = sandbox.messages()
    assert message["number"] == "5511999999999@s.whatsapp.net"
    assert message["body"]["text"] == "all systems go"
    execution = TriggerExecution.objects.get()
    assert execution.status == "completed"
    assert "all systems go" in execution.result_summary


def test_a_script_reply_is_cut_to_4096_characters(sandbox, make_trigger, scripts_dir):
    write_script(scripts_dir, "long.sh", "head -c 5000 /dev/zero | tr '\\0' y")
    trigger = make_trigger(action_payload={"script": "long.sh", "reply_via_whatsapp": True})

    run(trigger, {"sender": "5511977776666"})

    assert sandbox.messages()[0]["body"]["text"] == "y" * 4096


def test_a_failing_script_sends_no_reply(sandbox, make_trigger, scripts_dir):
    write_script(scripts_dir, "broken.sh", "echo oops; exit 2")
    trigger = make_trigger(action_payload={"script": "broken.sh", "reply_via_whatsapp": True})

    execution = run(trigger, {"sender": "5511977776666"})

    assert execution.status == "failed"
    assert sandbox.messages() == []


def test_a_keyed_whatsapp_event_posted_50_times_concurrently_sends_one_message(server, sandbox, make_trigger):
    trigger = whatsapp_trigger(make_trigger)
    body = json.dumps(EVOLUTION_GO_MESSAGE).encode()
    url = server.url + webhook_path(trigger)

    def deliver(_):
        return requests.post(
            url, data=body, headers={"Content-Type": "application/json"}, timeout=60
        ).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(deliver, range(50)))
    run_worker(**sandbox.env())

    assert sorted(set(statuses)) == [200, 202]
    assert len(sandbox.messages()) == 1
    assert TriggerExecution.objects.with_duplicate_count().get().duplicate_count == 49
    assert SECRET not in json.dumps(TriggerExecution.objects.get().event_data)


def test_a_whatsapp_action_can_send_media_with_the_message_as_its_caption(sandbox, make_trigger):
    payload = {"media": "https://files.example.com/{{ message_id }}.jpg", "message": "For {{ push_name }}"}
    trigger = make_trigger(source="whatsapp", action_type="whatsapp", action_payload=payload)

    execution = run(trigger, {"message_id": "ABC", "push_name": "Ana", "sender": "5511988887777"})

    [message] = sandbox.messages()
    assert (execution.status, message["kind"]) == ("completed", "media")
    assert message["body"]["url"] == "https://files.example.com/ABC.jpg"
    assert (message["body"]["type"], message["body"]["caption"]) == ("image", "For Ana")
    assert message["id"] == derive_message_id(f"evonexus:send:{execution.send_id}")


def test_a_media_type_given_in_the_payload_wins_over_the_extension(sandbox, make_trigger):
    payload = {"media": "https://files.example.com/report", "media_type": "document"}
    trigger = make_trigger(source="whatsapp", action_type="whatsapp", action_payload=payload)

    execution = run(trigger, {"sender": "5511988887777"})

    assert execution.status == "completed"
    assert sandbox.messages()[0]["body"]["type"] == "document"
    assert "caption" not in sandbox.messages()[0]["body"]


def test_a_media_send_fails_and_retries_like_a_text(sandbox, sleeps, make_trigger):
    sandbox.fail_next(*[{"status": 502, "error": "bad gateway"}] * 3)
    payload = {"media": "https://files.example.com/a.png", "message": "look"}
    trigger = make_trigger(source="whatsapp", action_type="whatsapp", action_payload=payload)

    execution = run(trigger, {"sender": "5511988887777"})

    assert (execution.status, execution.error_category, execution.whatsapp_attempts) == (
        "failed_retryable",
        "transient",
        3,
    )
    assert len({attempt["id"] for attempt in sandbox.attempts()}) == 1


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"media": "https://x.example/a.png", "media_type": "gif"}, '"media_type" must be one of'),
        ({"media": "{% if %}"}, "The media template does not compile"),
        ({"media": ""}, 'needs "media"'),
    ],
)
def test_a_bad_media_payload_is_refused_by_the_api(staff_client, payload, error):
    trigger = {"name": "m", "slug": "m", "source": "whatsapp", "action_type": "whatsapp"}

    response = staff_client.post("/api/triggers/", {**trigger, "action_payload": payload}, format="json")

    assert response.status_code == 400
    assert error in response.json()["action_payload"][0]


def alert(make_trigger):
    return make_trigger(action_type="whatsapp", action_payload={"message": "hi"}, recipient="5511988887777")


def test_a_send_with_no_instance_at_all_fails_permanently_and_says_to_add_one(make_trigger, settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""
    trigger = alert(make_trigger)

    execution = run(trigger, {"n": 1})

    assert (execution.status, execution.error_category) == ("failed", "permanent")
    assert "no WhatsApp instance is configured" in execution.error


def test_a_send_naming_no_instance_among_several_fails_and_names_them(make_trigger, settings):
    from whatsapp.models import Instance

    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""
    trigger = alert(make_trigger)
    Instance.objects.create(name="a", token="token-a-0123456")
    Instance.objects.create(name="b", token="token-b-0123456")

    execution = run(trigger, {"n": 1})

    assert (execution.status, execution.error_category) == ("failed", "permanent")
    assert "several WhatsApp instances exist (a, b)" in execution.error

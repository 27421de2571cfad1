"""What we send is recorded, and WhatsApp's delivery receipts tell the operator it arrived and was read."""

import copy
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.execute.test_messaging import run, whatsapp_trigger
from tests.receive.test_ingest_whatsapp import RECEIPT
from tests.support.forms import write_script
from tests.support.processes import run_worker
from tests.support.sandbox import SANDBOX_TOKEN
from tests.support.signing import SECRET, webhook_path
from triggers.models import SentMessage, TriggerExecution
from triggers.stats.figures import compute_stats


def receipt(state: str, *message_ids: str, token: str = SANDBOX_TOKEN) -> dict:
    body = copy.deepcopy(RECEIPT)
    body["state"], body["instanceToken"] = state, token
    body["data"]["MessageIDs"] = list(message_ids)
    return body


@pytest.fixture
def sent(sandbox, make_trigger) -> SentMessage:
    """Return the message a whatsapp execution just sent through the sandbox's first instance."""
    execution = run(whatsapp_trigger(make_trigger, secret=SANDBOX_TOKEN), {"sender": "5511988887777"})
    return execution.messages.get()


def post(client, trigger, body: dict):
    return client.post(webhook_path(trigger), body, content_type="application/json")


def test_every_message_we_send_is_recorded_with_its_id_recipient_and_time(sandbox, make_trigger):
    execution = run(whatsapp_trigger(make_trigger), {"sender": "5511988887777"})

    message = execution.messages.get()
    assert message.message_id == sandbox.messages()[0]["id"]
    assert message.recipient == "5511988887777@s.whatsapp.net"
    assert message.sent_at is not None and (message.delivered_at, message.read_at) == (None, None)


def test_a_script_reply_is_recorded_too(sandbox, make_trigger, scripts_dir):
    write_script(scripts_dir, "pong.sh", "echo pong")
    payload = {"script": "pong.sh", "reply_via_whatsapp": True}
    execution = run(make_trigger(action_payload=payload), {"sender": "5511988887777"})

    assert [m.message_id for m in execution.messages.all()] == [sandbox.messages()[0]["id"]]


def test_delivered_then_read_set_both_times_and_create_no_execution(client, make_trigger, sent):
    trigger = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN, event_filter={"event_type": "Message"})

    delivered = post(client, trigger, receipt("Delivered", sent.message_id))
    read = post(client, trigger, receipt("Read", sent.message_id))

    sent.refresh_from_db()
    assert delivered.json() == read.json() == {"status": "receipt", "matched": 1}
    assert sent.delivered_at <= sent.read_at
    assert TriggerExecution.objects.count() == 1  # the send's own execution only


def test_receipts_twice_and_in_reverse_order_leave_the_same_result(client, make_trigger, sent):
    trigger = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN)

    post(client, trigger, receipt("Read", sent.message_id))
    sent.refresh_from_db()
    first = (sent.delivered_at, sent.read_at)
    for state in ("Delivered", "Read", "Delivered"):
        post(client, trigger, receipt(state, sent.message_id))

    sent.refresh_from_db()
    assert (sent.delivered_at, sent.read_at) == first
    assert first[0] == first[1]  # read implies delivered


def test_a_receipt_for_messages_we_did_not_send_matches_nothing(client, make_trigger, sent):
    response = post(
        client,
        make_trigger(source="whatsapp", secret=SANDBOX_TOKEN),
        receipt("Delivered", "3EB0NOTOURS00000000000", sent.message_id),
    )

    assert response.json() == {"status": "receipt", "matched": 1}
    other = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN)
    assert post(client, other, receipt("Read", "3EB0NOTOURS00000000000")).json() == {
        "status": "receipt",
        "matched": 0,
    }


def test_a_receipt_with_a_wrong_instance_token_is_401(client, make_trigger, sent):
    trigger = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN)

    response = post(client, trigger, receipt("Read", sent.message_id, token="wrong"))

    sent.refresh_from_db()
    assert response.status_code == 401
    assert sent.read_at is None


def test_the_execution_api_shows_the_messages_and_their_times(client, staff_client, make_trigger, sent):
    post(client, make_trigger(source="whatsapp", secret=SANDBOX_TOKEN), receipt("Delivered", sent.message_id))

    answer = staff_client.get(f"/api/triggers/executions/{sent.execution_id}/").json()

    [message] = answer["messages"]
    assert (message["id"], message["recipient"]) == (sent.message_id, sent.recipient)
    assert message["delivered_at"] is not None and message["read_at"] is None
    assert (
        staff_client.get("/api/triggers/executions/").json()["results"][0]["messages"][0]["id"]
        == sent.message_id
    )


def test_stats_count_sent_delivered_read_and_undelivered(client, make_trigger, sandbox, settings):
    trigger = whatsapp_trigger(make_trigger, secret=SANDBOX_TOKEN)
    messages = [run(trigger, {"sender": f"551198888777{n}"}).messages.get() for n in range(4)]
    post(client, trigger, receipt("Delivered", messages[0].message_id))
    post(client, trigger, receipt("Read", messages[1].message_id))
    SentMessage.objects.filter(pk=messages[3].pk).update(
        sent_at=timezone.now() - timedelta(minutes=settings.DELIVERY_ALERT_MINUTES + 1)
    )

    stats = compute_stats(1).as_dict()

    assert (stats["messages_sent"], stats["messages_delivered"], stats["messages_read"]) == (4, 2, 1)
    assert stats["undelivered"] == 1  # the one sent long enough ago; the other is still young


def test_the_admin_shows_the_messages_and_filters_sent_not_delivered(
    django_user_model, client, make_trigger, sandbox, settings
):
    trigger = whatsapp_trigger(make_trigger, secret=SANDBOX_TOKEN)
    late, fine = (run(trigger, {"sender": f"55119888877{n}0"}) for n in range(2))
    SentMessage.objects.update(
        sent_at=timezone.now() - timedelta(minutes=settings.DELIVERY_ALERT_MINUTES + 1)
    )
    post(client, trigger, receipt("Read", fine.messages.get().message_id))
    user = django_user_model.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_triggerexecution"))
    client.force_login(user)

    page = client.get(f"/admin/triggers/triggerexecution/{fine.pk}/change/").content.decode()
    listed = client.get("/admin/triggers/triggerexecution/", {"delivery": "undelivered"}).content.decode()

    assert fine.messages.get().message_id in page and "whatsapp-messages" in page
    assert f"/admin/triggers/triggerexecution/{late.pk}/change/" in listed
    assert f"/admin/triggers/triggerexecution/{fine.pk}/change/" not in listed
    assert list(SentMessage.objects.undelivered()) == [late.messages.get()]


@pytest.mark.process
def test_the_whole_loop_ends_delivered_and_read(connected, sandbox, staff_client):
    connected(["MESSAGE", "READ_RECEIPT"], action_payload={"message": "Got it: {{ text }}"})

    sandbox.incoming("5511977776666", text="order 42")
    sandbox.answered("Message")
    run_worker(**sandbox.env())
    answers = sandbox.answered("Receipt", count=2)

    [message] = staff_client.get("/api/triggers/executions/").json()["results"][0]["messages"]
    assert [a["status"] for a in answers] == [200, 200]
    assert message["delivered_at"] is not None and message["read_at"] is not None
    assert SANDBOX_TOKEN not in str(TriggerExecution.objects.get().event_data)


def test_evolution_api_v2_status_updates_count_as_receipts(client, make_trigger, sent):
    # Evolution API 2.3.6, whatsapp.baileys.service.ts: messages.update carries the WhatsApp id in
    # data.keyId (data.messageId is its own row id) and the status as in src/utils/renderStatus.ts.
    trigger = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN)

    def update(status: str) -> dict:
        data = {"keyId": sent.message_id, "remoteJid": sent.recipient, "fromMe": True, "status": status}
        body = {"event": "messages.update", "instance": "main", "data": {**data, "messageId": "cm3x"}}
        return post(client, trigger, {**body, "apikey": SANDBOX_TOKEN}).json()

    delivered, read = update("DELIVERY_ACK"), update("READ")

    sent.refresh_from_db()
    assert delivered == read == {"status": "receipt", "matched": 1}
    assert sent.delivered_at is not None and sent.read_at is not None


@pytest.mark.parametrize("ids", [42, "3EB0", {"a": 1}, None, [1, None, ["x"]]])
def test_a_receipt_with_message_ids_of_any_shape_is_answered_never_a_500(client, make_trigger, ids):
    body = copy.deepcopy(RECEIPT)
    body["data"]["MessageIDs"] = ids
    body["instanceToken"] = SANDBOX_TOKEN

    response = post(client, make_trigger(source="whatsapp", secret=SANDBOX_TOKEN), body)

    assert response.json() == {"status": "receipt", "matched": 0}


def test_a_receipt_from_another_instances_token_marks_nothing(client, make_trigger, sent):
    # Any whatsapp trigger's holder can post a receipt; it reaches only its own instance's messages.
    elsewhere = make_trigger(source="whatsapp", secret=SECRET)

    answer = post(client, elsewhere, receipt("Read", sent.message_id, token=SECRET))

    sent.refresh_from_db()
    assert answer.json() == {"status": "receipt", "matched": 0}
    assert (sent.delivered_at, sent.read_at) == (None, None)


def test_a_disabled_trigger_takes_no_receipt(client, make_trigger, sent):
    off = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN, enabled=False)

    answer = post(client, off, receipt("Read", sent.message_id))

    sent.refresh_from_db()
    assert answer.json() == {"status": "ignored", "reason": "disabled"}
    assert sent.read_at is None


def test_the_demo_triggers_public_token_works_nowhere_but_the_loopback_sandbox(client, sent, settings):
    from triggers.execute.demo import ensure_demo_trigger

    demo = ensure_demo_trigger(SANDBOX_TOKEN)
    settings.EVOLUTION_GO_URL = "https://gateway.example.com"  # a real gateway now

    answer = post(client, demo, receipt("Read", sent.message_id))

    sent.refresh_from_db()
    assert answer.json() == {"status": "ignored", "reason": "demo"}
    assert sent.read_at is None

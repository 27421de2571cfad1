"""A bad day at the gateway: sends wait instead of burning retries, then go by themselves, once, in order."""

import json
from datetime import timedelta

import pytest
import requests
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.support.forms import write_script
from tests.support.signing import SECRET, webhook_path
from tests.support.threads import run_in_threads
from triggers.execute import breaker, executor
from triggers.models import GatewayBreaker, TriggerExecution
from triggers.receive.recording import record_event

CONNECTED_EVENT = {
    "event": "Connected",
    "data": {"status": "open", "jid": "5500000000000@s.whatsapp.net", "pushName": "Shop"},
    "instanceToken": SECRET,
    "instanceId": "9f1c2d3e-0000-4000-8000-000000000001",
    "instanceName": "main",
}


def set_connected(sandbox, connected: bool) -> None:
    requests.post(f"{sandbox.url}/_sandbox/state", json={"connected": connected}, timeout=5)


@pytest.fixture
def shop(make_trigger):
    return make_trigger(
        source="whatsapp", action_type="whatsapp", action_payload={"message": "order {{ n }}"}
    )


def arrive(trigger, count: int, start: int = 0) -> list[int]:
    """Return the ids of `count` new events for `trigger`, in arrival order."""
    return [
        record_event(trigger, {"sender": "5511977776666", "n": n}, f"evt-{n}").execution_id
        for n in range(start, start + count)
    ]


def drain() -> list[int]:
    """Run every queued execution task, by when it is due, until none is left; return the ids run."""
    ran = []
    while (
        task := DBTaskResult.objects.filter(task_path__endswith="run_execution")
        .order_by("run_after", "enqueued_at")
        .first()
    ):
        task.delete()
        execution_id = task.args_kwargs["args"][0]
        if executor.execute(execution_id):
            ran.append(execution_id)
    return ran


def statuses(ids: list[int]) -> list[str]:
    by_id = dict(TriggerExecution.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [by_id[pk] for pk in ids]


@pytest.fixture
def opened(sandbox, sleeps, shop):
    """Return five executions run while the instance is down: the first one's failed send opened it."""
    set_connected(sandbox, False)
    ids = arrive(shop, 5)
    for execution_id in ids:
        executor.execute(execution_id)
    DBTaskResult.objects.all().delete()  # the probe the opening queued: the tests drive the probes
    return ids


def test_three_failures_open_the_breaker_one_send_of_three_attempts(opened, sandbox):
    state = breaker.status()

    assert (state.state, state.waiting) == ("open", 5)
    assert statuses(opened) == ["held"] * 5
    assert len(sandbox.attempts()) == 3  # the first send's three attempts; then none
    held = TriggerExecution.objects.get(pk=opened[0])
    assert (held.hold_reason, held.whatsapp_attempts) == ("gateway_down", 3)
    assert "client disconnected" in held.error


def test_later_executions_wait_without_a_gateway_request(opened, sandbox, shop):
    [late] = arrive(shop, 1, start=5)

    executor.execute(late)

    assert statuses([late]) == ["held"]
    assert len(sandbox.attempts()) == 3


def test_a_connected_event_closes_it_and_every_waiting_send_goes_once_in_order(opened, sandbox, shop, client):
    set_connected(sandbox, True)

    answer = client.post(webhook_path(shop), CONNECTED_EVENT, content_type="application/json")
    trial = list(DBTaskResult.objects.values_list("args_kwargs", flat=True))
    ran = drain()

    assert answer.json() == {"status": "ignored", "reason": "connection_event"}
    assert [task["args"] for task in trial] == [[opened[0]]]  # the oldest goes first, alone
    assert breaker.status().state == "closed"
    assert statuses(opened) == ["completed"] * 5
    assert [m["body"]["text"] for m in sandbox.messages()] == [f"order {n}" for n in range(5)]
    assert sorted(ran) == sorted(opened)


def test_a_successful_probe_closes_it_too(opened, sandbox):
    set_connected(sandbox, True)
    due = timezone.now() + timedelta(seconds=16)

    executor.tick_gateway(now=due)
    drain()

    assert breaker.status().state == "closed"
    assert [m["body"]["text"] for m in sandbox.messages()] == [f"order {n}" for n in range(5)]


def test_probes_back_off_from_15_seconds_doubling_to_5_minutes(opened):
    now, intervals = timezone.now(), []
    for _ in range(7):
        now = GatewayBreaker.objects.get().next_probe_at
        connected, next_at = breaker.probe(now=now)
        intervals.append(round((next_at - now).total_seconds()))

    assert not connected
    assert intervals == [30, 60, 120, 240, 300, 300, 300]  # after the first 15 s


def test_a_failed_trial_opens_it_again(opened, sandbox, shop, client):
    client.post(webhook_path(shop), CONNECTED_EVENT, content_type="application/json")  # still down
    drain()

    assert breaker.status().state == "open"
    assert statuses(opened) == ["held"] * 5
    assert len(sandbox.attempts()) == 6  # and the trial's three attempts


def test_a_crash_in_the_middle_of_releasing_loses_and_doubles_nothing(opened, sandbox, monkeypatch):
    set_connected(sandbox, True)
    real_enqueue, calls = executor.enqueue_execution, []

    def enqueue_then_crash(execution_id, **kwargs):
        calls.append(execution_id)
        if len(calls) == 3:
            raise RuntimeError("the worker died here")
        real_enqueue(execution_id, **kwargs)

    monkeypatch.setattr(executor, "enqueue_execution", enqueue_then_crash)
    breaker.set_by_operator(False, user="ops")
    with pytest.raises(RuntimeError):
        executor.release_waiting()
    monkeypatch.setattr(executor, "enqueue_execution", real_enqueue)
    executor.tick_gateway()  # the reaper's pass picks up the rest
    drain()

    assert statuses(opened) == ["completed"] * 5
    assert sorted(m["body"]["text"] for m in sandbox.messages()) == [f"order {n}" for n in range(5)]


def test_concurrent_releases_release_each_waiting_execution_once(transactional_db, sandbox, sleeps, shop):
    set_connected(sandbox, False)
    ids = arrive(shop, 8)
    for execution_id in ids:
        executor.execute(execution_id)
    breaker.set_by_operator(False, user="ops")
    DBTaskResult.objects.all().delete()  # their first tasks, run above
    released = [pk for pks in run_in_threads(executor.release_waiting, 10) for pk in pks]

    assert sorted(released) == sorted(ids)
    tasks = [
        t.args_kwargs["args"][0] for t in DBTaskResult.objects.filter(task_path__endswith="run_execution")
    ]
    assert sorted(tasks) == sorted(ids)


def test_with_the_breaker_off_a_down_instance_fails_as_transient(sandbox, sleeps, shop, settings):
    settings.GATEWAY_BREAKER_FAILURES = 0
    set_connected(sandbox, False)
    [execution_id] = arrive(shop, 1)

    executor.execute(execution_id)

    assert statuses([execution_id]) == ["failed_retryable"]


def test_a_script_that_replies_waits_before_it_runs_while_the_breaker_is_open(
    opened, make_trigger, scripts_dir, tmp_path
):
    ran = tmp_path / "ran"
    write_script(scripts_dir, "reply.sh", f"touch {ran}; echo pong")
    trigger = make_trigger(action_payload={"script": "reply.sh", "reply_via_whatsapp": True})
    [execution_id] = arrive(trigger, 1, start=10)

    executor.execute(execution_id)

    assert statuses([execution_id]) == ["held"]
    assert not ran.exists()


def test_healthz_and_metrics_show_the_breaker(opened, client, admin_client):
    health = client.get("/healthz").json()
    metrics = admin_client.get("/metrics").content.decode()

    assert (health["status"], health["gateway"]["state"], health["gateway"]["waiting"]) == ("ok", "open", 5)
    assert "evonexus_gateway_breaker_open 1.0" in metrics
    assert 'evonexus_gateway_breaker_transitions_total{to="open"}' in metrics


def test_the_admin_shows_a_banner_while_it_is_open(opened, admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert "gateway-breaker-banner" in page
    assert "WhatsApp gateway unreachable since" in page and "5 sends waiting" in page and "next check" in page


def test_no_banner_while_it_is_closed(db, admin_client):
    assert "gateway-breaker-banner" not in admin_client.get("/admin/").content.decode()


def operator(django_user_model, *codenames: str):
    user = django_user_model.objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_gatewaybreaker", *codenames]))
    return user


def act(client, action: str):
    row = GatewayBreaker.objects.get()
    return client.post(
        "/admin/triggers/gatewaybreaker/", {"action": action, "_selected_action": [row.pk]}, follow=True
    )


def test_an_operator_closes_it_by_hand_and_history_shows_who(opened, sandbox, client, django_user_model):
    set_connected(sandbox, True)
    client.force_login(operator(django_user_model, "operate_gatewaybreaker"))

    page = act(client, "close_breaker").content.decode()
    drain()

    assert "5 waiting execution(s) released" in page
    assert statuses(opened) == ["completed"] * 5
    entry = LogEntry.objects.get()
    assert (entry.user.username, entry.get_change_message()) == ("ops", "Closed the breaker.")


def test_an_operator_opens_it_for_maintenance_and_no_event_closes_it(
    db, sandbox, shop, client, django_user_model
):
    client.force_login(operator(django_user_model, "operate_gatewaybreaker"))
    breaker.status()

    act(client, "open_breaker")
    client.logout()
    client.post(webhook_path(shop), CONNECTED_EVENT, content_type="application/json")
    [execution_id] = arrive(shop, 1)
    executor.execute(execution_id)

    assert breaker.status().state == "open" and breaker.status().manual
    assert statuses([execution_id]) == ["held"]
    assert sandbox.attempts() == []


def test_closing_by_hand_needs_the_permission(opened, client, django_user_model):
    client.force_login(operator(django_user_model))
    row = GatewayBreaker.objects.get()

    answer = client.post(
        "/admin/triggers/gatewaybreaker/", {"action": "close_breaker", "_selected_action": [row.pk]}
    )

    assert breaker.status().state == "open"
    assert answer.status_code in (200, 302, 403)
    assert "close_breaker" not in client.get("/admin/triggers/gatewaybreaker/").content.decode()


def test_the_state_survives_a_restart_because_it_lives_in_the_database(opened):
    assert json.loads(json.dumps(breaker.status().as_dict()))["state"] == "open"
    assert GatewayBreaker.objects.get().state == "open"


def test_a_trigger_that_asks_for_connected_events_gets_them(db, shop, make_trigger, client):
    notify = make_trigger(source="whatsapp", event_filter={"event_type": "Connected"})

    answer = client.post(webhook_path(notify), CONNECTED_EVENT, content_type="application/json")

    assert answer.status_code == 202

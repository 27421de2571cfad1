"""A bad day at the gateway: sends wait instead of burning retries, then go by themselves, once, in order."""

import json
from datetime import timedelta

import pytest
import requests
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.support.forms import write_script
from tests.support.sandbox import SANDBOX_TOKEN
from tests.support.signing import SECRET, webhook_path
from tests.support.threads import run_in_threads
from triggers.execute import breaker, executor
from triggers.models import GatewayBreaker, TriggerExecution
from triggers.receive.recording import record_event
from whatsapp.models import Instance


def main() -> Instance:
    """Return the instance the tests' shop sends through (the sandbox's first)."""
    return Instance.objects.get(token=SANDBOX_TOKEN)


def gateway(health: dict, name: str | None = None) -> dict:
    """Return `/healthz`'s breaker of the instance `name` (default: the shop's)."""
    name = name or main().name
    return next(each for each in health["gateways"] if each["instance"] == name)


def connection_event(name: str, data: dict | None = None, token: str = SANDBOX_TOKEN) -> dict:
    """Return a connection event as Evolution Go posts it (pkg/whatsmeow/service/whatsmeow.go)."""
    return {
        "event": name,
        "data": data if data is not None else {},
        "instanceToken": token,
        "instanceId": "9f1c2d3e-0000-4000-8000-000000000001",
        "instanceName": "main",
    }


CONNECTED_EVENT = connection_event(
    "Connected", {"status": "open", "jid": "5500000000000@s.whatsapp.net", "pushName": "Shop"}
)


def set_connected(sandbox, connected: bool) -> None:
    requests.post(f"{sandbox.url}/_sandbox/state", json={"connected": connected}, timeout=5)


@pytest.fixture
def shop(make_trigger):
    # Its events carry the instance token we send through: theirs may move the breaker.
    return make_trigger(
        source="whatsapp",
        secret=SANDBOX_TOKEN,
        action_type="whatsapp",
        action_payload={"message": "order {{ n }}"},
    )


def arrive(trigger, count: int, start: int = 0) -> list[int]:
    """Return the ids of `count` new events for `trigger`, in arrival order."""
    return [
        record_event(trigger, {"sender": "5511977776666", "n": n}, f"evt-{n}").execution_id
        for n in range(start, start + count)
    ]


def drain() -> list[int]:
    """Run every queued execution task and event probe, by when it is due, until none is left.

    Return the ids of the executions run. Scheduled probes (`probe_gateway`) are
    left: the tests drive those.
    """
    ran = []
    runnable = Q(task_path__endswith="run_execution") | Q(task_path__endswith="confirm_connected")
    while task := DBTaskResult.objects.filter(runnable).order_by("run_after", "enqueued_at").first():
        task.delete()
        if task.task_path.endswith("confirm_connected"):
            executor.confirm_connected.func(*task.args_kwargs["args"])
        elif executor.execute(execution_id := task.args_kwargs["args"][0]):
            ran.append(execution_id)
    return ran


def queued() -> list[str]:
    """Return the names of the queued tasks, oldest first."""
    paths = DBTaskResult.objects.order_by("enqueued_at").values_list("task_path", flat=True)
    return [path.rsplit(".", 1)[1] for path in paths]


def post(client, trigger, event: dict):
    return client.post(webhook_path(trigger), event, content_type="application/json")


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
    state = breaker.status(main())

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


def test_a_connected_event_asks_for_a_probe_whose_answer_closes_it_and_sends_each_once_in_order(
    opened, sandbox, shop, client
):
    set_connected(sandbox, True)

    answer = post(client, shop, CONNECTED_EVENT)
    asked = queued()
    executor.confirm_connected.func(main().pk)
    trial = [task.args_kwargs for task in DBTaskResult.objects.filter(task_path__endswith="run_execution")]
    ran = drain()

    assert answer.json() == {"status": "ignored", "reason": "connection"}
    assert asked == ["confirm_connected"]  # the event itself released nothing
    assert [task["args"] for task in trial] == [[opened[0]]]  # the oldest goes first, alone
    assert breaker.status(main()).state == "closed"
    assert statuses(opened) == ["completed"] * 5
    assert [m["body"]["text"] for m in sandbox.messages()] == [f"order {n}" for n in range(5)]
    assert sorted(ran) == sorted(opened)


def test_a_successful_probe_closes_it_too(opened, sandbox):
    set_connected(sandbox, True)
    due = timezone.now() + timedelta(seconds=16)

    executor.tick_gateway(now=due)
    drain()

    assert breaker.status(main()).state == "closed"
    assert [m["body"]["text"] for m in sandbox.messages()] == [f"order {n}" for n in range(5)]


def test_probes_back_off_from_15_seconds_doubling_to_5_minutes(opened):
    now, intervals = timezone.now(), []
    for _ in range(7):
        now = GatewayBreaker.objects.get(instance=main()).next_probe_at
        connected, next_at = breaker.probe(main(), now=now)
        intervals.append(round((next_at - now).total_seconds()))

    assert not connected
    assert intervals == [30, 60, 120, 240, 300, 300, 300]  # after the first 15 s


def test_a_connected_event_while_still_down_sends_nothing(opened, sandbox, shop, client):
    post(client, shop, CONNECTED_EVENT)  # the probe it asks for finds the instance down
    drain()

    assert breaker.status(main()).state == "open"
    assert statuses(opened) == ["held"] * 5
    assert len(sandbox.attempts()) == 3  # the first send's, and no trial


def test_a_failed_trial_opens_it_again(opened, sandbox):
    set_connected(sandbox, True)
    executor.tick_gateway(now=timezone.now() + timedelta(seconds=16))  # a due probe: half-open
    set_connected(sandbox, False)  # gone again before the trial sends
    drain()

    assert breaker.status(main()).state == "open"
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
    breaker.set_by_operator(main(), False, user="ops")
    with pytest.raises(RuntimeError):
        executor.release_waiting(main())
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
    breaker.set_by_operator(main(), False, user="ops")
    DBTaskResult.objects.all().delete()  # their first tasks, run above
    released = [pk for pks in run_in_threads(lambda: executor.release_waiting(main()), 10) for pk in pks]

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

    assert (health["status"], gateway(health)["state"], gateway(health)["waiting"]) == ("ok", "open", 5)
    assert f'evonexus_gateway_breaker_open{{instance="{main().name}"}} 1.0' in metrics
    assert 'evonexus_gateway_breaker_transitions_total{to="open"}' in metrics


def test_the_admin_shows_a_banner_while_it_is_open(opened, admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert "gateway-breaker-banner" in page
    assert f"WhatsApp instance {main().name}:" in page and "unreachable since" in page
    assert "5 sends waiting" in page and "next check" in page


def test_no_banner_while_it_is_closed(db, admin_client):
    assert "gateway-breaker-banner" not in admin_client.get("/admin/").content.decode()


def operator(django_user_model, *codenames: str):
    user = django_user_model.objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_gatewaybreaker", *codenames]))
    return user


def act(client, action: str):
    row = GatewayBreaker.objects.get(instance=main())
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
    breaker.status(main())

    act(client, "open_breaker")
    client.logout()
    post(client, shop, CONNECTED_EVENT)
    drain()
    [execution_id] = arrive(shop, 1)
    executor.execute(execution_id)

    assert breaker.status(main()).state == "open" and breaker.status(main()).manual
    assert statuses([execution_id]) == ["held"]
    assert sandbox.attempts() == []


def test_closing_by_hand_needs_the_permission(opened, client, django_user_model):
    client.force_login(operator(django_user_model))
    row = GatewayBreaker.objects.get(instance=main())

    answer = client.post(
        "/admin/triggers/gatewaybreaker/", {"action": "close_breaker", "_selected_action": [row.pk]}
    )

    assert breaker.status(main()).state == "open"
    assert answer.status_code in (200, 302, 403)
    assert "close_breaker" not in client.get("/admin/triggers/gatewaybreaker/").content.decode()


def test_the_state_survives_a_restart_because_it_lives_in_the_database(opened):
    assert json.loads(json.dumps(breaker.status(main()).as_dict()))["state"] == "open"
    assert GatewayBreaker.objects.get(instance=main()).state == "open"


@pytest.mark.parametrize(
    "event",
    [
        CONNECTED_EVENT,
        connection_event("PairSuccess", {"ID": "5500000000000@s.whatsapp.net"}),
        connection_event("Disconnected"),
        connection_event("ConnectFailure", {"Reason": 401, "Message": "logged out"}),
        connection_event("LoggedOut", {"OnConnect": False, "Reason": 401}),
        connection_event("TemporaryBan", {"Code": 101, "Expire": 3600e9, "reason": "101", "expire": 3600e9}),
        {"event": "connection.update", "data": {"state": "close"}, "apikey": SANDBOX_TOKEN},
    ],
    ids=lambda event: event["event"],
)
def test_a_connection_event_never_runs_an_action_whatever_the_filter(
    db, sandbox, make_trigger, client, event
):
    asks = make_trigger(
        source="whatsapp", secret=SANDBOX_TOKEN, event_filter={"event_type": event["event"]}
    )

    answer = post(client, asks, event)

    assert answer.json() == {"status": "ignored", "reason": "connection"}
    assert not TriggerExecution.objects.exists()
    assert sandbox.messages() == []


def test_disconnected_and_connect_failure_open_it_at_once_and_queue_a_probe(db, sandbox, shop, client):
    post(client, shop, connection_event("Disconnected"))
    opened_at = GatewayBreaker.objects.get(instance=main()).opened_at
    post(client, shop, connection_event("ConnectFailure", {"Reason": 500}))

    state = breaker.status(main())
    assert (state.state, state.logged_out) == ("open", False)
    assert GatewayBreaker.objects.get(instance=main()).opened_at == opened_at
    assert queued() == ["probe_gateway"]  # one probe: the second event found it open already


def test_logged_out_holds_sends_no_probe_can_close_it_and_it_is_said_once(
    db, sandbox, shop, client, caplog
):
    post(client, shop, connection_event("LoggedOut", {"Reason": 401}))
    post(client, shop, connection_event("LoggedOut", {"Reason": 401}))
    set_connected(sandbox, True)
    [execution_id] = arrive(shop, 1)
    executor.execute(execution_id)

    assert breaker.probe(main(), now=timezone.now() + timedelta(days=1)) == (False, None)
    executor.tick_gateway(now=timezone.now() + timedelta(days=1))
    assert breaker.status(main()).as_dict()["logged_out"] is True
    assert statuses([execution_id]) == ["held"]
    assert caplog.text.count("evt=gateway_logged_out") == 1
    assert sandbox.attempts() == []


def test_after_a_logout_the_paired_instances_connected_event_closes_it(db, sandbox, shop, client):
    post(client, shop, connection_event("LoggedOut", {"Reason": 401}))
    [execution_id] = arrive(shop, 1)
    executor.execute(execution_id)
    set_connected(sandbox, True)

    post(client, shop, CONNECTED_EVENT)
    drain()

    assert breaker.status(main()).state == "closed"
    assert statuses([execution_id]) == ["completed"]


def test_a_temporary_ban_holds_every_send_until_it_ends_then_probes(db, sandbox, shop, client):
    now = timezone.now()
    post(client, shop, connection_event("TemporaryBan", {"reason": "101", "expire": 3600e9}))  # 1 h in ns
    [execution_id] = arrive(shop, 1)
    executor.execute(execution_id)
    set_connected(sandbox, True)

    post(client, shop, CONNECTED_EVENT)  # connected, but the ban holds
    drain()
    banned_until = breaker.status(main()).banned_until
    executor.tick_gateway(now=banned_until + timedelta(seconds=1))
    drain()

    assert abs((banned_until - now).total_seconds() - 3600) < 60
    assert breaker.status(main()).state == "closed"
    assert statuses([execution_id]) == ["completed"]


def test_a_connected_event_from_another_instance_moves_nothing_of_this_one(
    opened, sandbox, make_trigger, client
):
    other = make_trigger(source="whatsapp", secret=SECRET)
    set_connected(sandbox, True)

    for _ in range(6):
        post(client, other, connection_event("Connected", token=SECRET))
    before = GatewayBreaker.objects.get(instance=main())
    probes = DBTaskResult.objects.filter(task_path__endswith="confirm_connected")

    # At most one probe, of the other instance's own state: never this one's.
    assert [task.args_kwargs["args"] for task in probes] == [[other.instance_id]]
    assert (before.state, before.probe_interval_seconds) == ("open", 15)
    assert len(sandbox.attempts()) == 3


def test_connected_events_ask_for_at_most_one_probe_in_ten_seconds(opened, sandbox, shop, client):
    for _ in range(6):
        post(client, shop, CONNECTED_EVENT)

    assert queued() == ["confirm_connected"]
    assert GatewayBreaker.objects.get(instance=main()).probe_interval_seconds == 15


def test_a_disabled_trigger_ignores_connection_events(db, make_trigger, client):
    off = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN, enabled=False)

    answer = post(client, off, connection_event("Disconnected"))

    assert answer.json() == {"status": "ignored", "reason": "disabled"}
    assert breaker.status(main()).state == "closed"


def test_the_banner_says_the_phone_must_be_paired_again_after_a_logout(
    db, sandbox, shop, client, admin_client
):
    post(client, shop, connection_event("LoggedOut", {"Reason": 401}))

    page = admin_client.get("/admin/").content.decode()

    assert "logged out since" in page and "pair the phone again" in page


def test_the_banner_and_healthz_say_until_when_a_ban_holds(db, sandbox, shop, client, admin_client):
    post(client, shop, connection_event("TemporaryBan", {"reason": "101", "expire": 7200e9}))

    page = admin_client.get("/admin/").content.decode()
    health = gateway(client.get("/healthz").json())

    assert "banned the number temporarily" in page
    assert health["state"] == "open" and health["banned_until"] is not None


@pytest.mark.parametrize(
    ("event", "data", "state"),
    [
        ("Disconnected", {}, "disconnected"),
        ("ConnectFailure", {}, "disconnected"),
        ("LoggedOut", {"Reason": 401}, "logged_out"),
        ("TemporaryBan", {"reason": "101", "expire": 7200e9}, "banned"),
    ],
)
def test_a_connection_event_records_what_the_server_said_of_its_instance_only(
    db, sandbox, shop, make_trigger, client, event, data, state
):
    other = make_trigger(source="whatsapp", secret=SECRET)

    post(client, shop, connection_event(event, data))

    number = Instance.objects.get(pk=shop.instance_id)
    assert (number.state, number.state_since is not None) == (state, True)
    assert (number.banned_until is not None) == (state == "banned")
    assert Instance.objects.get(pk=other.instance_id).state == "unknown"


def test_a_probe_that_finds_the_instance_connected_records_it(opened, sandbox):
    set_connected(sandbox, True)

    executor.tick_gateway(now=timezone.now() + timedelta(seconds=16))

    assert main().state == "connected"

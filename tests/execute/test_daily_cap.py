"""A cap that holds: past WHATSAPP_DAILY_CAP sends in 24 h, executions wait, and go once there is room."""

from datetime import timedelta

import pytest
import requests
from django.contrib.auth.models import Permission
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.execute.test_breaker import drain, statuses
from tests.support.threads import run_in_threads
from triggers.execute import executor
from triggers.execute.reaper import reap
from triggers.models import SentMessage, TriggerExecution
from triggers.receive.recording import record_event


@pytest.fixture
def shop(make_trigger, sandbox, settings):
    settings.WHATSAPP_DAILY_CAP = 3
    return make_trigger(
        source="whatsapp", action_type="whatsapp", action_payload={"message": "order {{ n }}"}
    )


def five_events(shop) -> list[int]:
    ids = [record_event(shop, {"sender": "5511977776666", "n": n}, f"evt-{n}").execution_id for n in range(5)]
    DBTaskResult.objects.all().delete()  # run by hand below, in arrival order
    for execution_id in ids:
        executor.execute(execution_id)
    return ids


def a_day_later():
    # The rolling window moves on: the first three sends fall out of it.
    SentMessage.objects.update(sent_at=timezone.now() - timedelta(hours=25))


def test_with_a_cap_of_3_five_events_send_3_and_hold_2(shop, sandbox):
    ids = five_events(shop)

    assert statuses(ids) == ["completed"] * 3 + ["held"] * 2
    assert TriggerExecution.objects.get(pk=ids[3]).hold_reason == "daily_cap"
    assert len(sandbox.messages()) == 3


def test_when_the_window_has_room_again_they_go_in_order_each_once(shop, sandbox):
    ids = five_events(shop)
    a_day_later()

    reap()  # the worker's pass: no operator
    drain()

    assert statuses(ids) == ["completed"] * 5
    assert [m["body"]["text"] for m in sandbox.messages()] == [f"order {n}" for n in range(5)]


def test_ten_concurrent_releases_of_one_held_execution_send_it_once(transactional_db, shop, sandbox):
    ids = five_events(shop)
    a_day_later()
    results = run_in_threads(lambda: executor.release(ids[3], reason="daily_cap"), 10)
    drain()

    assert results.count(True) == 1
    assert [m["body"]["text"] for m in sandbox.messages()].count("order 3") == 1


def operator(django_user_model, *codenames: str):
    user = django_user_model.objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    names = ["view_triggerexecution", "replay_triggerexecution", *codenames]
    user.user_permissions.add(*Permission.objects.filter(codename__in=names))
    return user


def release_in_admin(client, ids: list[int], confirm: bool):
    data = {"action": "release_held", "_selected_action": ids}
    if confirm:
        data["post"] = "yes"
    return client.post("/admin/triggers/triggerexecution/", data, follow=confirm)


def test_releasing_past_the_cap_without_the_permission_is_refused_and_says_so(
    shop, client, django_user_model
):
    ids = five_events(shop)
    client.force_login(operator(django_user_model))

    page = release_in_admin(client, ids[3:], confirm=False).content.decode()
    done = release_in_admin(client, ids[3:], confirm=True).content.decode()

    assert "sends 2 past the daily cap" in page and "which you do not have" in page
    assert "Nothing was released" in done
    assert statuses(ids[3:]) == ["held", "held"]


def test_an_operator_who_may_releases_past_the_cap_and_history_shows_it(
    shop, sandbox, client, django_user_model
):
    ids = five_events(shop)
    client.force_login(operator(django_user_model, "release_over_cap_triggerexecution"))

    release_in_admin(client, ids[3:], confirm=True)
    drain()

    assert statuses(ids) == ["completed"] * 5
    history = client.get(f"/admin/triggers/triggerexecution/{ids[3]}/history/").content.decode()
    assert "Released from held." in history


@pytest.mark.postgresql
def test_workers_sending_at_once_never_pass_the_cap_together(transactional_db, shop, sandbox):
    events = [({"sender": "5511977776666", "n": n}, f"at-once-{n}") for n in range(6)]
    ids = [record_event(shop, event, key).execution_id for event, key in events]
    requests.post(f"{sandbox.url}/_sandbox/state", json={"latency_ms": 300}, timeout=5)  # sends overlap
    pending = iter(ids)

    run_in_threads(lambda: executor.execute(next(pending)), 6)

    assert sorted(statuses(ids)) == ["completed"] * 3 + ["held"] * 3
    assert len(sandbox.messages()) == 3 == SentMessage.objects.count()
    assert not TriggerExecution.objects.filter(cap_slot=True).exists()  # every slot given back

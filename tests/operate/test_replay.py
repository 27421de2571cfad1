"""Failed executions replay safely: once, rate-limited per event, with the key handed over."""

import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.support.commands import run_command
from triggers.execute import executor
from triggers.models import TriggerExecution
from triggers.operate.replay import replay_execution


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def replay_url(execution) -> str:
    return f"/api/triggers/executions/{execution.pk}/replay"


def test_a_keyed_dlq_execution_replays_into_one_new_execution_that_completes(
    replayer, make_trigger, make_failed_execution, sandbox, post_event
):
    trigger = make_trigger(action_type="whatsapp", action_payload={"message": "again: {{ text }}"})
    original = make_failed_execution(trigger, key="order-7")

    response = api(replayer).post(replay_url(original))

    assert response.status_code == 202
    new_id = response.json()["new_execution_id"]
    assert response.json() == {"status": "ok", "new_execution_id": new_id}
    assert executor.execute(new_id) == "completed"
    assert sandbox.messages()[0]["body"]["text"] == "again: /status"
    original.refresh_from_db()
    assert original.status == "replayed"
    assert original.last_replay_at is not None
    replacement = TriggerExecution.objects.get(pk=new_id)
    assert (replacement.replay_of_id, replacement.idempotency_key) == (original.pk, "order-7")
    assert replacement.event_data == original.event_data
    duplicate = post_event(trigger, {"idempotency_key": "order-7"})
    assert duplicate.json() == {"status": "duplicate", "skipped": True, "execution_id": new_id}


def test_ten_concurrent_replays_create_exactly_one_new_execution(server, replayer, make_failed_execution):
    original = make_failed_execution()
    token = Token.objects.create(user=replayer).key
    url = server.url + replay_url(original)

    def replay_once(_):
        return requests.post(url, headers={"Authorization": f"Token {token}"}, timeout=30)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(replay_once, range(10)))

    codes = sorted(r.status_code for r in responses)
    assert codes.count(202) == 1, [(r.status_code, r.text) for r in responses]
    assert set(codes) - {202} <= {409, 429}
    assert TriggerExecution.objects.filter(replay_of=original).count() == 1


def test_replaying_the_failed_replacement_is_limited_until_60_seconds_after_the_first_replay(
    replayer, make_failed_execution
):
    original = make_failed_execution()
    new_id = api(replayer).post(replay_url(original)).json()["new_execution_id"]
    replacement = TriggerExecution.objects.get(pk=new_id)
    replacement.status, replacement.error_category = "failed_retryable", "transient"
    replacement.save()

    def first_replay_was(seconds_ago: int) -> None:
        TriggerExecution.objects.filter(pk=original.pk).update(
            last_replay_at=timezone.now() - timedelta(seconds=seconds_ago)
        )

    first_replay_was(59)
    limited = api(replayer).post(replay_url(replacement))
    first_replay_was(60)
    allowed = api(replayer).post(replay_url(replacement))

    assert limited.status_code == 429
    assert limited.json() == {"error": "rate_limited", "retry_after_seconds": 1}
    assert limited["Retry-After"] == "1"
    assert allowed.status_code == 202


def test_the_rate_limit_counts_exactly_60_seconds_with_the_injected_clock(make_failed_execution):
    original = make_failed_execution()
    first = timezone.now()
    new_id = replay_execution(original.pk, now=first).new_execution_id
    TriggerExecution.objects.filter(pk=new_id).update(status="failed")

    at_59 = replay_execution(new_id, now=first + timedelta(seconds=59, microseconds=999_999))
    at_60 = replay_execution(new_id, now=first + timedelta(seconds=60))

    assert (at_59.refusal.reason, at_59.refusal.retry_after_seconds) == ("rate_limited", 1)
    assert at_60.ok


@pytest.mark.parametrize("status", ["pending", "running", "completed", "replayed"])
def test_executions_that_did_not_fail_are_not_replayable(replayer, make_failed_execution, status):
    execution = make_failed_execution(status=status, category=None)

    response = api(replayer).post(replay_url(execution))

    assert response.status_code == 409
    assert response.json() == {"error": "not_replayable", "current_status": status}


def test_a_permanent_failure_can_be_replayed_too(replayer, make_failed_execution):
    execution = make_failed_execution(status="failed", category="permanent")

    assert api(replayer).post(replay_url(execution)).status_code == 202


def test_an_execution_of_a_disabled_trigger_is_not_replayed(replayer, make_trigger, make_failed_execution):
    execution = make_failed_execution(make_trigger(enabled=False))

    response = api(replayer).post(replay_url(execution))

    assert (response.status_code, response.json()) == (409, {"error": "trigger_disabled"})


def test_an_unknown_execution_is_404(replayer):
    response = api(replayer).post("/api/triggers/executions/424242/replay")

    assert (response.status_code, response.json()) == (404, {"error": "not_found"})


def test_staff_without_the_permission_get_403_and_anonymous_callers_401(staff_client, make_failed_execution):
    execution = make_failed_execution()

    assert staff_client.post(replay_url(execution)).status_code == 403
    assert APIClient().post(replay_url(execution)).status_code == 401
    assert TriggerExecution.objects.count() == 1


def test_the_api_limits_replays_per_user(replayer, make_trigger, make_failed_execution, settings):
    # Per hour, not per minute: a window that turns over mid-test would let the third through.
    settings.REPLAY_API_RATE = "2/h"
    executions = [make_failed_execution(key=f"k{i}") for i in range(3)]

    codes = [api(replayer).post(replay_url(e)).status_code for e in executions]

    assert codes == [202, 202, 429]


def test_the_replay_is_logged_with_who_did_it(replayer, make_failed_execution, caplog):
    execution = make_failed_execution()

    new_id = api(replayer).post(replay_url(execution)).json()["new_execution_id"]

    assert any(
        f"evt=trigger_replay original_exec={execution.pk} new_exec={new_id}" in r.getMessage()
        and "user=replayer" in r.getMessage()
        for r in caplog.records
    )


def replay_command(*args: str) -> tuple[int, str]:
    return run_command("replay_executions", *args)


def test_the_command_replays_executions_by_id(make_failed_execution):
    execution = make_failed_execution()

    code, output = replay_command(str(execution.pk))

    new = TriggerExecution.objects.get(replay_of=execution)
    assert code == 0
    assert f"{execution.pk}: replayed as {new.pk}" in output
    assert "replayed 1, refused 0, of 1 selected" in output


def test_the_command_exits_1_when_any_is_refused(make_failed_execution):
    good, done = (
        make_failed_execution(key="a"),
        make_failed_execution(key="b", status="completed", category=None),
    )

    code, output = replay_command(str(good.pk), str(done.pk))

    assert code == 1
    assert f"{done.pk}: refused, not replayable: it is completed" in output


def test_the_command_replays_the_dlq_of_one_trigger_recent_enough_within_the_limit(
    make_trigger, make_failed_execution
):
    mine, other = make_trigger(slug="mine"), make_trigger(slug="other")
    old = make_failed_execution(mine, key="old")
    TriggerExecution.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    recent = [make_failed_execution(mine, key=f"new-{i}") for i in range(3)]
    make_failed_execution(other, key="elsewhere")
    make_failed_execution(mine, key="permanent", status="failed", category="permanent")

    code, output = replay_command("--dlq", "--trigger", "mine", "--since", "2h", "--limit", "2")

    assert code == 0
    assert "replayed 2, refused 0, of 2 selected" in output
    assert set(TriggerExecution.objects.filter(status="replayed").values_list("pk", flat=True)) == {
        recent[0].pk,
        recent[1].pk,
    }


def test_the_commands_dry_run_changes_nothing(make_failed_execution):
    execution = make_failed_execution()

    code, output = replay_command("--dlq", "--dry-run")

    assert code == 0
    assert f"{execution.pk}: would replay" in output
    assert TriggerExecution.objects.get(pk=execution.pk).status == "failed_retryable"
    assert TriggerExecution.objects.count() == 1


@pytest.mark.parametrize(
    "args", [[], ["1", "--dlq"], ["1", "--trigger", "x"], ["--dlq", "--since", "two hours"]]
)
def test_the_command_refuses_contradictory_or_malformed_arguments(db, args):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("replay_executions", *args, stdout=io.StringIO())


def test_json_of_a_refusal_names_the_current_status(make_failed_execution):
    execution = make_failed_execution(status="running", category=None)

    result = replay_execution(execution.pk)

    assert json.loads(json.dumps(result.refusal.__dict__))["current_status"] == "running"

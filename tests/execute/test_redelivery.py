"""Transient failures are tried again on a schedule, if the trigger asks, before the DLQ."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.support.forms import write_script
from tests.support.processes import run_worker
from triggers.execute import executor
from triggers.execute.redelivery import redelivery_delay
from triggers.models import TriggerExecution
from triggers.operate.replay import replay_execution
from triggers.receive.recording import record_event


def test_with_two_redeliveries_a_transient_failure_is_tried_three_times_then_lands_in_the_dlq(
    transactional_db, make_trigger, scripts_dir, tmp_path
):
    tries = tmp_path / "tries.txt"
    write_script(scripts_dir, "flaky.sh", f"echo try >> {tries}; exit 75")
    trigger = make_trigger(auto_redeliveries=2, action_payload={"script": "flaky.sh"})
    execution_id = record_event(trigger, {}, "evt-1").execution_id

    # A zero schedule makes each redelivery due at once; the real one is 60 s, 5 min, ...
    run_worker(scripts_dir, AUTO_REDELIVERY_SCHEDULE="0")

    assert tries.read_text() == "try\n" * 3
    execution = TriggerExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.error_category, execution.redeliveries) == (
        "failed_retryable",
        "transient",
        2,
    )
    assert execution.redelivery_at is None
    assert list(TriggerExecution.objects.dead_letter()) == [execution]


def test_a_redelivery_is_scheduled_on_the_task_backend_and_kept_out_of_the_dlq(make_trigger, scripts_dir):
    write_script(scripts_dir, "flaky.sh", "exit 75")
    trigger = make_trigger(auto_redeliveries=1, action_payload={"script": "flaky.sh"})
    execution_id = record_event(trigger, {}, "evt-1").execution_id
    before = timezone.now()

    executor.execute(execution_id)

    execution = TriggerExecution.objects.get(pk=execution_id)
    assert execution.status == "failed_retryable"
    assert before + timedelta(seconds=48) <= execution.redelivery_at <= timezone.now() + timedelta(seconds=72)
    assert not TriggerExecution.objects.dead_letter().exists()
    assert list(TriggerExecution.objects.awaiting_redelivery()) == [execution]
    scheduled = DBTaskResult.objects.order_by("-enqueued_at").first()
    assert scheduled.run_after == execution.redelivery_at


def test_a_redelivery_that_succeeds_completes_the_execution(make_trigger, scripts_dir, tmp_path):
    marker = tmp_path / "second-time"
    write_script(
        scripts_dir, "flaky.sh", f"if [ -e {marker} ]; then echo ok; else touch {marker}; exit 75; fi"
    )
    execution_id = record_event(
        make_trigger(auto_redeliveries=3, action_payload={"script": "flaky.sh"}), {}, "evt-1"
    ).execution_id

    assert executor.execute(execution_id) == "failed_retryable"
    assert executor.execute(execution_id) == "completed"

    execution = TriggerExecution.objects.get(pk=execution_id)
    assert (execution.redeliveries, execution.redelivery_at) == (1, None)


def test_permanent_failures_are_never_redelivered(make_trigger, scripts_dir):
    write_script(scripts_dir, "broken.sh", "exit 1")
    execution_id = record_event(
        make_trigger(auto_redeliveries=3, action_payload={"script": "broken.sh"}), {}, "evt-1"
    ).execution_id

    executor.execute(execution_id)

    execution = TriggerExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.redelivery_at, execution.redeliveries) == ("failed", None, 0)


def test_without_redeliveries_a_transient_failure_lands_in_the_dlq_at_once(make_trigger, scripts_dir):
    write_script(scripts_dir, "flaky.sh", "exit 75")
    execution_id = record_event(make_trigger(action_payload={"script": "flaky.sh"}), {}, None).execution_id

    executor.execute(execution_id)

    assert TriggerExecution.objects.dead_letter().filter(pk=execution_id).exists()


def test_a_manual_replay_cancels_the_pending_automatic_redelivery(make_trigger, scripts_dir, tmp_path):
    tries = tmp_path / "tries.txt"
    write_script(scripts_dir, "flaky.sh", f"echo try >> {tries}; exit 75")
    trigger = make_trigger(auto_redeliveries=2, action_payload={"script": "flaky.sh"})
    original_id = record_event(trigger, {}, "evt-1").execution_id
    executor.execute(original_id)

    result = replay_execution(original_id)

    original = TriggerExecution.objects.get(pk=original_id)
    assert (original.status, original.redelivery_at) == ("replayed", None)
    assert executor.execute(original_id) is None  # the scheduled task finds nothing to claim
    assert tries.read_text() == "try\n"
    assert TriggerExecution.objects.get(pk=result.new_execution_id).status == "pending"


@pytest.mark.parametrize(("done", "base"), [(0, 60), (1, 300), (2, 1800), (3, 7200), (9, 7200)])
def test_the_schedule_is_60s_5min_30min_2h_with_20_percent_jitter(done, base):
    assert redelivery_delay(done, jitter=lambda low, high: low) == timedelta(seconds=base * 0.8)
    assert redelivery_delay(done, jitter=lambda low, high: high) == timedelta(seconds=base * 1.2)


def test_the_api_refuses_more_than_10_redeliveries(staff_client):
    response = staff_client.post(
        "/api/triggers/",
        {"name": "x", "slug": "x", "action_payload": {"script": "a.sh"}, "auto_redeliveries": 11},
        format="json",
    )

    assert response.status_code == 400
    assert "auto_redeliveries" in response.json()

"""Each event runs once: duplicates answer 200, create nothing and are counted."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.support.forms import write_script
from tests.support.processes import run_worker
from tests.support.queue import queued_execution_ids
from tests.support.signing import SECRET, sign, webhook_path
from triggers.models import ExecutionEvent, TriggerExecution
from triggers.receive import recording

pytestmark = pytest.mark.postgresql


def test_it_accepts_a_new_event_with_202_and_one_pending_execution(make_trigger, post_event):
    trigger = make_trigger()

    response = post_event(trigger, {"data": {"idempotency_key": "order-1"}})

    assert response.status_code == 202
    execution = TriggerExecution.objects.get()
    assert response.json() == {"status": "accepted", "execution_id": execution.pk}
    assert execution.status == "pending"
    assert execution.idempotency_key == "order-1"


def test_it_answers_a_duplicate_with_200_and_counts_it(make_trigger, post_event):
    trigger = make_trigger()
    first = post_event(trigger, {"data": {"idempotency_key": "order-1"}})

    second = post_event(trigger, {"data": {"idempotency_key": "order-1"}})

    assert second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == {
        "status": "duplicate",
        "skipped": True,
        "execution_id": first.json()["execution_id"],
    }
    assert TriggerExecution.objects.count() == 1
    assert TriggerExecution.objects.with_duplicate_count().get().duplicate_count == 1


def test_it_enqueues_one_task_per_accepted_event_and_none_for_duplicates(
    make_trigger, post_event, django_capture_on_commit_callbacks
):
    trigger = make_trigger()
    with django_capture_on_commit_callbacks(execute=True):  # Redis queues after the commit
        for _ in range(3):
            post_event(trigger, {"data": {"idempotency_key": "order-1"}})

    assert queued_execution_ids() == [TriggerExecution.objects.get().pk]


def test_it_keeps_keys_separate_per_trigger(make_trigger, post_event):
    first, second = make_trigger(), make_trigger()

    assert post_event(first, {"data": {"idempotency_key": "k"}}).status_code == 202
    assert post_event(second, {"data": {"idempotency_key": "k"}}).status_code == 202


def test_it_never_deduplicates_unsigned_events_without_a_key(make_trigger, post_event):
    trigger = make_trigger()
    bearer = {"Authorization": f"Bearer {SECRET}"}

    for _ in range(2):
        answer = post_event(trigger, {"data": {"text": "hello"}}, signed=False, headers=bearer)
        assert answer.status_code == 202

    assert TriggerExecution.objects.filter(idempotency_key=None).count() == 2


def test_a_signed_body_without_a_key_is_keyed_by_its_digest_so_a_captured_copy_never_runs_again(
    make_trigger, post_event
):
    trigger = make_trigger()

    answers = [post_event(trigger, {"data": {"text": "hello"}}).json()["status"] for _ in range(2)]

    assert answers == ["accepted", "duplicate"]
    assert TriggerExecution.objects.get().idempotency_key.startswith("sha256:")


def test_a_trigger_may_opt_out_and_take_identical_signed_bodies_as_separate_events(make_trigger, post_event):
    trigger = make_trigger(key_signed_bodies=False)

    answers = [post_event(trigger, {"data": {"text": "hello"}}).json()["status"] for _ in range(2)]

    assert answers == ["accepted", "accepted"]


def test_it_ignores_events_for_a_disabled_trigger_without_a_row(make_trigger, post_event):
    trigger = make_trigger(enabled=False)

    response = post_event(trigger, {"data": {"idempotency_key": "k"}})

    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "disabled"}
    assert not TriggerExecution.objects.exists()


def test_it_ignores_events_the_filter_rejects_without_a_row(make_trigger, post_event):
    trigger = make_trigger(event_filter={"event": "order.*", "status": "paid"})

    ignored = post_event(trigger, {"event": "order.created", "status": "open"})
    accepted = post_event(trigger, {"event": "order.created", "status": "paid"})

    assert ignored.json() == {"status": "ignored", "reason": "filtered"}
    assert accepted.status_code == 202
    assert TriggerExecution.objects.count() == 1


def test_it_answers_a_second_copy_as_a_duplicate_of_the_first_decided_by_the_constraint(make_trigger):
    trigger = make_trigger()
    holder = recording.record_event(trigger, {"n": 1}, "race-key")

    copy = recording.record_event(trigger, {"n": 2}, "race-key")

    assert copy == recording.Recorded("duplicate", holder.execution_id)
    assert TriggerExecution.objects.with_duplicate_count().get().duplicate_count == 1
    assert ExecutionEvent.objects.get().kind == "duplicate"


def test_it_records_the_event_again_when_the_holder_was_replayed_between_conflict_and_count(
    make_trigger, monkeypatch
):
    trigger = make_trigger()
    holder = recording.record_event(trigger, {"n": 1}, "k")
    real_insert = recording.insert_execution
    calls = []

    def conflict_then_the_holder_is_replayed(*args):
        calls.append(args)
        if len(calls) > 1:
            return real_insert(*args)
        TriggerExecution.objects.filter(pk=holder.execution_id).update(status="replayed")
        return None  # the key was taken when the INSERT ran

    monkeypatch.setattr(recording, "insert_execution", conflict_then_the_holder_is_replayed)

    again = recording.record_event(trigger, {"n": 2}, "k")

    assert again.outcome == "accepted" and again.execution_id != holder.execution_id
    assert len(calls) == 2
    assert not ExecutionEvent.objects.exists()


def test_it_lets_integrity_errors_other_than_the_key_conflict_surface(make_trigger):
    trigger = make_trigger()

    with pytest.raises(IntegrityError), transaction.atomic():
        recording.record_event(trigger, None, "k")

    assert not TriggerExecution.objects.exists()


def test_it_deduplicates_concurrent_deliveries_through_a_real_server(
    server, make_trigger, scripts_dir, tmp_path
):
    ran = tmp_path / "ran.txt"
    write_script(scripts_dir, "record.sh", f"cat >/dev/null; echo ran >> {ran}")
    trigger = make_trigger()
    body = json.dumps({"event": "order.paid", "data": {"idempotency_key": "storm-1"}}).encode()
    headers = {"Content-Type": "application/json", "X-Webhook-Signature": sign(body)}
    url = server.url + webhook_path(trigger)

    def deliver(_):
        with requests.Session() as session:
            return session.post(url, data=body, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(deliver, range(200)))

    assert all(200 <= code < 300 for code in statuses), statuses
    assert statuses.count(202) == 1
    execution = TriggerExecution.objects.with_duplicate_count().get()
    assert execution.duplicate_count == 199
    run_worker(scripts_dir)
    assert ran.read_text() == "ran\n"
    execution.refresh_from_db()
    assert execution.status == "completed"


def test_the_recording_insert_leaves_out_the_columns_a_new_execution_holds_null_in(make_trigger):
    # Each value bound costs the request; the database writes those NULLs itself.
    trigger = make_trigger()
    with CaptureQueriesContext(connection) as captured:
        recording.record_event(trigger, {"n": 1}, None)
    statement = next(q["sql"] for q in captured.captured_queries if "INSERT" in q["sql"])
    execution = TriggerExecution.objects.get()

    assert '"idempotency_key"' in statement  # NULL here, but given: the INSERT names it
    left_out = ("completed_at", "replay_of_id", "redelivery_at")
    assert not any(f'"{column}"' in statement for column in left_out)
    assert all(getattr(execution, column) is None for column in left_out)


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_is_counted_in_the_transaction_that_found_its_key_taken(make_trigger):
    # So on SQLite a duplicate takes the write lock once (PostgreSQL: one statement).
    trigger = make_trigger()
    recording.record_event(trigger, {"n": 1}, "k")
    ran = []

    def note(execute, sql, params, many, context):
        ran.append((sql, connection.in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        assert recording.record_event(trigger, {"n": 1}, "k").outcome == "duplicate"

    writes = [(sql, atomic) for sql, atomic in ran if "INSERT" in sql]
    counting = [atomic or sql.startswith("WITH execution AS") for sql, atomic in writes]
    assert counting and all(counting)
    assert ExecutionEvent.objects.count() == 1

"""The execution's life on its model: each move is one conditional UPDATE that exactly one caller wins."""

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connections, transaction
from django.db.models.signals import pre_delete
from django.utils import timezone

from triggers.choices import ActionType, ErrorCategory, ExecutionStatus, HoldReason
from triggers.models import LOST_WORKER_ERROR, Trigger, TriggerExecution
from triggers.outcomes import ActionOutcome
from triggers.receive.recording import record_event

pytestmark = [pytest.mark.django_db, pytest.mark.postgresql]

Executions = TriggerExecution.objects


@pytest.fixture
def execution(make_trigger):
    return Executions.create(trigger=make_trigger(), event_data={"n": 1}, idempotency_key="k")


def status_of(execution: TriggerExecution) -> str:
    execution.refresh_from_db()
    return execution.status


def test_a_pending_execution_is_claimed_once_and_starts_running(execution):
    now = timezone.now()

    assert Executions.claim(execution.pk, now=now) is True
    assert Executions.claim(execution.pk, now=now) is False
    execution.refresh_from_db()
    assert (execution.status, execution.started_at) == (ExecutionStatus.RUNNING, now)


def test_a_scheduled_redelivery_is_runnable_and_its_claim_clears_the_schedule(execution):
    Executions.filter(pk=execution.pk).update(
        status=ExecutionStatus.FAILED_RETRYABLE, redelivery_at=timezone.now()
    )

    assert Executions.claim(execution.pk, now=timezone.now()) is True
    execution.refresh_from_db()
    assert execution.redelivery_at is None


def test_a_dead_letter_is_not_runnable(execution):
    Executions.filter(pk=execution.pk).update(status=ExecutionStatus.FAILED_RETRYABLE)

    assert Executions.claim(execution.pk, now=timezone.now()) is False
    assert list(Executions.dead_letter()) == [execution]


def test_finish_takes_the_outcome_only_from_a_running_execution(execution):
    now = timezone.now()
    done = ActionOutcome.completed("ok", attempts=2)

    assert Executions.finish(execution.pk, done, now=now, duration_seconds=0.5) is False
    Executions.claim(execution.pk, now=now)
    assert Executions.finish(execution.pk, done, now=now, duration_seconds=0.5) is True
    execution.refresh_from_db()
    assert (execution.status, execution.attempts, execution.completed_at) == ("completed", 2, now)


def test_a_held_outcome_has_no_completion_time_and_names_its_reason(execution):
    now = timezone.now()
    Executions.claim(execution.pk, now=now)

    held = ActionOutcome.held(HoldReason.DAILY_CAP, "cap")
    Executions.finish(execution.pk, held, now=now, duration_seconds=0)

    execution.refresh_from_db()
    assert (execution.status, execution.hold_reason, execution.completed_at) == ("held", "daily_cap", None)
    assert list(Executions.held(HoldReason.DAILY_CAP)) == [execution]


def test_a_redelivery_schedule_keeps_a_transient_failure_out_of_the_dead_letter_queue(execution):
    now = timezone.now()
    Executions.claim(execution.pk, now=now)

    Executions.finish(
        execution.pk, ActionOutcome.transient("503"), now=now, duration_seconds=0, redelivery_at=now
    )

    execution.refresh_from_db()
    assert (execution.redeliveries, list(Executions.awaiting_redelivery())) == (1, [execution])
    assert not Executions.dead_letter().exists()


def test_a_held_execution_is_released_once(execution):
    Executions.filter(pk=execution.pk).update(status="held", hold_reason=HoldReason.GATEWAY_DOWN)

    assert Executions.release(execution.pk, reason=HoldReason.GATEWAY_DOWN) is True
    assert Executions.release(execution.pk, reason=HoldReason.GATEWAY_DOWN) is False
    assert status_of(execution) == ExecutionStatus.PENDING


def test_release_names_its_reason_and_may_allow_sending_past_the_cap(execution):
    Executions.filter(pk=execution.pk).update(status="held", hold_reason=HoldReason.DAILY_CAP)

    assert Executions.release(execution.pk, reason=HoldReason.GATEWAY_DOWN) is False
    assert Executions.release(execution.pk, reason=HoldReason.DAILY_CAP, over_cap=True) is True
    execution.refresh_from_db()
    assert (execution.hold_reason, execution.over_cap_allowed) == ("", True)


def test_only_a_failed_execution_is_marked_replayed_and_only_once(execution):
    now = timezone.now()
    assert execution.replayable is False
    assert Executions.mark_replayed(execution.pk, now=now) is False
    Executions.filter(pk=execution.pk).update(status=ExecutionStatus.FAILED, redelivery_at=now)

    assert Executions.mark_replayed(execution.pk, now=now) is True
    assert Executions.mark_replayed(execution.pk, now=now) is False
    execution.refresh_from_db()
    assert (execution.status, execution.last_replay_at, execution.redelivery_at) == ("replayed", now, None)


def test_a_run_past_its_lease_is_marked_lost_as_unknown_and_never_runnable(execution):
    now = timezone.now()
    Executions.claim(execution.pk, now=now - timedelta(hours=1))

    assert Executions.mark_lost(execution.pk, cutoff=now - timedelta(hours=2), now=now) is False
    assert Executions.mark_lost(execution.pk, cutoff=now, now=now) is True
    execution.refresh_from_db()
    assert (execution.status, execution.error_category, execution.error) == (
        ExecutionStatus.FAILED_RETRYABLE,
        ErrorCategory.UNKNOWN,
        LOST_WORKER_ERROR,
    )
    assert list(Executions.dead_letter()) == [execution]


def test_a_stranded_execution_is_requeued_at_most_once_per_period(execution):
    later = execution.created_at + timedelta(minutes=10)

    assert Executions.redeliver(execution.pk, cutoff=later, now=later) is True
    assert Executions.redeliver(execution.pk, cutoff=later, now=later) is False
    assert status_of(execution) == ExecutionStatus.PENDING


def test_a_trigger_sends_whatsapp_when_its_action_or_its_script_reply_does(make_trigger):
    assert make_trigger(action_type=ActionType.WHATSAPP, action_payload={"message": "hi"}).sends_whatsapp
    assert make_trigger(action_payload={"script": "a.sh", "reply_via_whatsapp": True}).sends_whatsapp
    assert not make_trigger(action_payload={"script": "a.sh"}).sends_whatsapp


@pytest.mark.postgresql
def test_an_event_committed_while_its_trigger_is_being_deleted_never_fails_the_delete(
    transactional_db, make_trigger
):
    """The event's commit comes between the delete collecting the executions and deleting the trigger."""
    trigger = make_trigger()
    recorded, commit, arrived = threading.Event(), threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def arrive() -> None:
        try:
            with transaction.atomic():
                record_event(trigger, {"n": 1}, "in-flight")
                recorded.set()
                commit.wait(5)
            outcomes["event"] = "committed"
        except IntegrityError:
            outcomes["event"] = "refused"  # ingest answers this 404: the trigger is gone
        finally:
            arrived.set()
            connections.close_all()

    def commit_the_event_now(sender, instance, **kwargs) -> None:
        commit.set()
        arrived.wait(1)  # without the lock it commits here; with it, it waits for the delete

    arriving = threading.Thread(target=arrive)
    arriving.start()
    recorded.wait(5)
    pre_delete.connect(commit_the_event_now, sender=Trigger)
    try:
        Trigger.objects.get(pk=trigger.pk).delete()
        outcomes["delete"] = "deleted"
    except IntegrityError as exc:  # the bug: a foreign-key violation at the delete's commit
        outcomes["delete"] = exc
    finally:
        pre_delete.disconnect(commit_the_event_now, sender=Trigger)
        commit.set()
        arriving.join(10)

    # PostgreSQL: the event's commit waits for the delete and is refused (a 404). SQLite:
    # the delete's transaction waits for the event's, and takes its execution with it.
    assert outcomes["delete"] == "deleted" and outcomes["event"] in ("refused", "committed")
    assert not Trigger.objects.filter(pk=trigger.pk).exists()
    assert not TriggerExecution.objects.exists()


# --- a trigger's WhatsApp instance -------------------------------------------------------


@pytest.fixture
def no_settings_number(settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""


def test_a_whatsapp_trigger_is_bound_to_the_instance_holding_its_secret(make_trigger, no_settings_number):
    from whatsapp.models import Instance

    number = Instance.objects.create(name="shop", token="the-shops-instance-token")

    trigger = make_trigger(source="whatsapp", secret="the-shops-instance-token")

    assert trigger.instance == number


def test_a_whatsapp_trigger_whose_secret_no_instance_holds_gets_one_named_after_it(
    make_trigger, no_settings_number
):
    trigger = make_trigger(source="whatsapp", slug="orders", secret="a-token-nobody-holds-yet")

    assert (trigger.instance.name, trigger.instance.token) == ("orders", "a-token-nobody-holds-yet")


def test_a_trigger_that_only_sends_takes_the_only_instance_and_with_several_must_name_one(
    make_trigger, no_settings_number
):
    from django.core.exceptions import ValidationError

    from whatsapp.models import Instance

    only = Instance.objects.create(name="a", token="token-of-number-a-0123")
    first = make_trigger(action_type=ActionType.WHATSAPP, action_payload={"message": "hi"})
    Instance.objects.create(name="b", token="token-of-number-b-0123")
    second = Trigger(slug="x", name="x", action_type=ActionType.WHATSAPP, action_payload={"message": "hi"})

    assert first.instance == only
    with pytest.raises(ValidationError, match=r"several WhatsApp instances exist \(a, b\)"):
        second.clean()


def test_a_script_trigger_needs_no_instance(make_trigger, settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = "settings-token-0123456789"

    assert make_trigger().instance is None


def test_a_new_instance_token_becomes_its_whatsapp_triggers_secret(make_trigger, no_settings_number):
    trigger = make_trigger(source="whatsapp", secret="the-old-instance-token")

    trigger.instance.token = "the-new-instance-token"
    trigger.instance.save()

    trigger.refresh_from_db()
    assert trigger.signing_secrets() == ["the-new-instance-token"]


def test_whatsapp_triggers_saved_at_once_with_one_new_token_share_one_instance(transactional_db, settings):
    from tests.support.threads import run_in_threads
    from whatsapp.models import Instance

    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""
    made = iter(range(8))
    lock = threading.Lock()

    def save() -> int:
        with lock:
            n = next(made)
        fields = {"name": f"t{n}", "slug": f"in-{n}", "source": "whatsapp", "secret": "one-token-0123"}
        return Trigger.objects.create(**fields).instance_id

    bound = run_in_threads(save, 8)

    assert len(bound) == 8 and len(set(bound)) == 1
    assert Instance.objects.get().token == "one-token-0123"

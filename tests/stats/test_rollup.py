"""Stats at any size: an hourly rollup kept by the database, exactly equal to the rows, rebuilt on demand."""

import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.commands import run_command
from tests.support.forms import write_script
from tests.support.processes import ROOT
from triggers.choices import ExecutionStatus
from triggers.execute import executor, reaper
from triggers.execute.receipts import apply_receipt, record_sent
from triggers.models import ExecutionEvent, SentMessage, StatsHour, TriggerExecution
from triggers.operate.replay import replay_execution
from triggers.receive.recording import record_event
from triggers.stats import rollup
from triggers.stats.figures import compute_stats, window_start
from whatsapp.models import Instance

pytestmark = pytest.mark.postgresql


def counted_from_rows(days: int, now) -> dict:
    """Return what the rows say over the window `compute_stats(days, now=now)` covers: the reference."""
    start, end = window_start(days * 24, now), window_start(0, now)
    executions = TriggerExecution.objects.filter(created_at__gte=start, created_at__lt=end)
    events = ExecutionEvent.objects.filter(at__gte=start, at__lt=end)
    sent = SentMessage.objects.filter(sent_at__gte=start, sent_at__lt=end)
    sends = executions.filter(whatsapp_attempts__gt=0)
    return {
        "total_executions": executions.count(),
        "by_status": {status: executions.filter(status=status).count() for status in ExecutionStatus.values},
        "dlq_size": TriggerExecution.objects.dead_letter().count(),
        "idempotent_replays": events.filter(kind="duplicate").count(),
        "replays": executions.exclude(replay_of=None).count() + events.filter(kind="redelivery").count(),
        "wpp_command_count": sends.count(),
        "retries_observed": (sends.aggregate(n=Sum("whatsapp_attempts"))["n"] or 0) - sends.count(),
        "messages_sent": sent.count(),
        "messages_delivered": sent.filter(delivered_at__isnull=False).count(),
        "messages_read": sent.filter(read_at__isnull=False).count(),
    }


def assert_rollup_equals_rows(now=None) -> None:
    now = now or timezone.now()
    for days in (1, 7, 30):
        stats = compute_stats(days, now=now).as_dict()
        expected = counted_from_rows(days, now)
        assert {key: stats[key] for key in expected} == expected, f"{days}-day window"


def rollup_totals() -> dict:
    return StatsHour.objects.aggregate(**{name: Sum(name) for name in rollup.COUNTER_FIELDS})


@pytest.fixture
def mixed_workload(make_trigger, scripts_dir, settings):
    """New events, duplicates, runs that complete and fail, a replay, a redelivery, the reaper, receipts."""
    return run_mixed_workload(make_trigger, scripts_dir, settings)


def run_mixed_workload(make_trigger, scripts_dir, settings):
    """Return the workload's first trigger, after the writes of `mixed_workload`."""
    settings.AUTO_REDELIVERY_SCHEDULE = [60]
    write_script(scripts_dir, "ok.sh", "cat >/dev/null; echo done")
    write_script(scripts_dir, "flaky.sh", "cat >/dev/null; exit 75")  # EX_TEMPFAIL: transient
    ok = make_trigger(action_payload={"script": "ok.sh"})
    flaky = make_trigger(action_payload={"script": "flaky.sh"}, auto_redeliveries=1)
    for n in range(6):
        record_event(ok, {"n": n}, f"ok-{n}")
        record_event(ok, {"n": n}, f"ok-{n}")  # a duplicate of each
    record_event(ok, {"n": "no key"}, None)
    for pk in TriggerExecution.objects.filter(trigger=ok).values_list("pk", flat=True)[:4]:
        executor.execute(pk)
    failing = [record_event(flaky, {"n": n}, f"flaky-{n}").execution_id for n in range(3)]
    for pk in failing:
        executor.execute(pk)  # a redelivery scheduled for each
    TriggerExecution.objects.filter(pk=failing[0]).update(redelivery_at=None)  # now in the DLQ
    replay_execution(failing[0])
    lost = record_event(ok, {"n": "lost"}, "lost").execution_id
    long_ago = timezone.now() - timedelta(hours=2)
    TriggerExecution.objects.filter(pk=lost).update(status="running", started_at=long_ago)
    reaper.reap()
    TriggerExecution.objects.filter(pk=failing[1]).update(created_at=timezone.now() - timedelta(days=3))
    done = TriggerExecution.objects.filter(status="completed").values_list("pk", flat=True)
    number = Instance.objects.create(name="main", token="the-instance-token-0123456789")
    for n, pk in enumerate(done[:3]):
        record_sent(number, pk, f"msg-{n}", "5511988887777")
    apply_receipt(["msg-0", "msg-1"], "Delivered", instance_id=number.pk)
    apply_receipt(["msg-0"], "Read", instance_id=number.pk)
    return ok


def test_the_rollup_equals_the_rows_after_a_mixed_workload(mixed_workload):
    statuses = set(TriggerExecution.objects.values_list("status", flat=True))

    assert {"completed", "failed_retryable", "replayed", "pending"} <= statuses  # the workload did its job
    assert ExecutionEvent.objects.filter(kind="redelivery").exists()
    assert_rollup_equals_rows()


def test_deleting_executions_takes_their_counts_back(mixed_workload):
    mixed_workload.delete()  # cascades to its executions, events and messages

    assert_rollup_equals_rows()


def test_rebuild_stats_recounts_a_rollup_that_a_manual_fix_bypassed(mixed_workload):
    before = rollup_totals()
    StatsHour.objects.all().delete()
    StatsHour.objects.create(hour=timezone.now() - timedelta(days=400), executions=99)  # a stale stray

    _, output = run_command("rebuild_stats")

    assert "rebuilt the stats rollup" in output
    assert rollup_totals() == before
    assert_rollup_equals_rows()


def test_rebuild_stats_of_an_empty_database_writes_nothing(db):
    run_command("rebuild_stats")

    assert not StatsHour.objects.exists()


def test_rebuild_stats_while_events_arrive_loses_and_doubles_nothing(transactional_db, make_trigger):
    trigger = make_trigger()
    stop = threading.Event()
    errors: list[BaseException] = []

    def ingest_until_stopped() -> None:
        try:
            n = 0
            while not stop.is_set() or n < 50:
                record_event(trigger, {"n": n}, f"k-{n}")
                record_event(trigger, {"n": n}, f"k-{n}")
                n += 1
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    writer = threading.Thread(target=ingest_until_stopped)
    writer.start()
    for _ in range(5):
        rollup.rebuild(slice_hours=1)
    stop.set()
    writer.join(timeout=120)

    assert not errors
    assert_rollup_equals_rows()


def test_reading_the_stats_never_counts_executions(make_trigger):
    trigger = make_trigger()
    for n in range(20):
        record_event(trigger, {"n": n}, f"k-{n}")

    with CaptureQueriesContext(connection) as queries:
        compute_stats(30)

    assert len(queries) <= 5
    assert not any('FROM "triggers_triggerexecution"' in query["sql"] for query in queries.captured_queries)


def test_a_window_is_whole_hours_ending_with_the_current_one(make_trigger):
    now = timezone.now().replace(minute=30)
    trigger = make_trigger()
    inside = record_event(trigger, {}, "inside").execution_id
    outside = record_event(trigger, {}, "outside").execution_id
    first_hour = window_start(24, now)
    TriggerExecution.objects.filter(pk=inside).update(created_at=first_hour)
    TriggerExecution.objects.filter(pk=outside).update(created_at=first_hour - timedelta(microseconds=1))

    assert compute_stats(1, now=now).total_executions == 1


def statements(queries: CaptureQueriesContext) -> list[str]:
    """Return the SQL statements captured, leaving out the test's own savepoints around them."""
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


def prepared_statements() -> list[str]:
    """Return the SQL of the statements this PostgreSQL connection has prepared."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [sql for (sql,) in cursor.fetchall()]


class Calls(dict):
    def __sub__(self, other: dict) -> dict:
        return {name: count - other[name] for name, count in self.items()}


def rollup_trigger_calls() -> Calls:
    """Return how often this transaction ran the executions' and the events' rollup functions (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return Calls(executions=0, events=0)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'pl'")
        cursor.execute(
            "SELECT coalesce(pg_stat_get_xact_function_calls(%s::regproc), 0), "
            "coalesce(pg_stat_get_xact_function_calls(%s::regproc), 0)",
            [f"{TriggerExecution._meta.db_table}_rollup", f"{ExecutionEvent._meta.db_table}_rollup"],
        )
        executions, events = cursor.fetchone()
    return Calls(executions=executions, events=events)


def test_a_new_event_and_a_duplicate_are_one_prepared_statement_each_on_postgresql_two_on_sqlite(
    make_trigger,
):
    # PostgreSQL: one data-modifying CTE, prepared by its 5th run on a connection (Django
    # turns psycopg's prepared statements off unless the settings ask, and they ask).
    # SQLite (none): the execution and its task row, or the INSERT that finds the key
    # taken and the duplicate's event row.
    expected = 1 if connection.vendor == "postgresql" else 2
    trigger = make_trigger()
    for n in range(5):
        record_event(trigger, {"n": n}, f"earlier-{n}")

    calls_before = rollup_trigger_calls()
    with CaptureQueriesContext(connection) as new:
        record_event(trigger, {"n": 1}, "k")
    calls_after_new = rollup_trigger_calls()
    with CaptureQueriesContext(connection) as duplicate:
        record_event(trigger, {"n": 1}, "k")
    calls_after_duplicate = rollup_trigger_calls()

    assert len(statements(new)) == expected
    assert len(statements(duplicate)) == expected
    assert TriggerExecution.objects.with_duplicate_count().get(idempotency_key="k").duplicate_count == 1
    if connection.vendor == "postgresql":
        assert statements(new)[0].startswith("WITH execution AS")
        assert [sql for sql in prepared_statements() if sql.startswith("WITH execution AS")]
        # The statement holds two INSERTs and writes one row: only that table's trigger runs.
        assert calls_after_new - calls_before == {"executions": 1, "events": 0}
        assert calls_after_duplicate - calls_after_new == {"executions": 0, "events": 1}


def test_the_task_row_written_with_the_execution_is_the_one_the_tasks_api_writes(make_trigger, settings):
    from django_tasks_db.models import DBTaskResult

    execution_id = record_event(make_trigger(), {"n": 1}, "k").execution_id
    ours = DBTaskResult.objects.get()
    theirs = DBTaskResult.objects.get(pk=executor.run_execution.enqueue(execution_id).id)

    def comparable(row: DBTaskResult) -> dict:
        fields = {f.attname: getattr(row, f.attname) for f in DBTaskResult._meta.concrete_fields}
        return {name: value for name, value in fields.items() if name not in ("id", "enqueued_at")}

    assert comparable(ours) == comparable(theirs)
    assert ours.args_kwargs == {"args": [execution_id], "kwargs": {}}


def test_the_execution_row_written_is_the_one_the_orm_writes(make_trigger):
    trigger = make_trigger()
    ours = TriggerExecution.objects.get(pk=record_event(trigger, {"n": 1}, "k").execution_id)
    theirs = TriggerExecution.objects.create(trigger=trigger, event_data={"n": 1}, idempotency_key="k2")

    def comparable(row: TriggerExecution) -> dict:
        fields = {f.attname: getattr(row, f.attname) for f in TriggerExecution._meta.concrete_fields}
        per_row = ("id", "idempotency_key", "created_at", "send_id")
        return {name: value for name, value in fields.items() if name not in per_row}

    assert comparable(ours) == comparable(theirs)
    assert ours.send_id != theirs.send_id
    assert ours.created_at <= theirs.created_at


def test_migrate_puts_back_rollup_triggers_that_a_table_rebuild_dropped(make_trigger):
    # What SQLite's copy-and-rename of an altered table does to the triggers on it.
    rollup.uninstall(connection)

    call_command("migrate", verbosity=0)
    record_event(make_trigger(), {"n": 1}, "k")

    assert compute_stats(1).total_executions == 1


def test_an_empty_database_gets_an_empty_rollup_after_migrate_or_flush(make_trigger):
    record_event(make_trigger(), {"n": 1}, "k")
    # What SQLite's flush can do: empty the rollup first, then the rows (the triggers subtract).
    StatsHour.objects.all().delete()
    TriggerExecution.objects.all().delete()

    call_command("migrate", verbosity=0)  # flush ends the same way: post_migrate

    assert not StatsHour.objects.exists()


COUNTED_INSERT = re.compile(
    r'INSERT INTO "?(triggers_triggerexecution|triggers_executionevent|triggers_sentmessage)"?', re.I
)


def test_every_write_of_the_product_inserts_one_counted_row_per_statement(
    make_trigger, scripts_dir, settings
):
    # On PostgreSQL an INSERT is counted row by row, each row's upsert landing on the same
    # few counter rows: linear while every statement writes one row. A statement of many
    # rows (a bulk import) is quadratic there, so imports go with the hooks off, then
    # rebuild_stats (docs/console.md). This holds the product to one row per statement.
    with CaptureQueriesContext(connection) as captured:
        run_mixed_workload(make_trigger, scripts_dir, settings)

    inserts = [query["sql"] for query in captured.captured_queries if COUNTED_INSERT.search(query["sql"])]
    tables = {COUNTED_INSERT.search(sql).group(1) for sql in inserts}
    many = [sql for sql in inserts if re.search(r"\)\s*,\s*\(", sql.split("VALUES", 1)[-1])]
    assert tables == {"triggers_triggerexecution", "triggers_executionevent", "triggers_sentmessage"}
    assert many == []


def test_no_code_of_the_product_bulk_creates_counted_rows():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("evonexus", "triggers", "whatsapp")
        for path in Path(ROOT, package).rglob("*.py")
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "bulk_create(" in line
    ]
    assert offenders == []

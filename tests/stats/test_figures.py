"""Stats equal the numbers in the rows, everywhere they are shown; the watermark warns once per flip."""

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from tests.support.commands import run_command
from tests.support.processes import ROOT, process_env
from tests.support.sandbox import SANDBOX_TOKEN
from triggers.execute import executor
from triggers.models import ExecutionEvent, SentMessage, TriggerExecution
from triggers.stats.figures import compute_stats
from whatsapp.models import Instance

NOW = timezone.now()


@pytest.fixture
def seeded(make_trigger):
    """Executions, duplicates and redeliveries at known times before NOW (see each line)."""
    trigger = make_trigger()

    def execution(ago: timedelta, status: str, wa: int = 0, **fields) -> TriggerExecution:
        created = TriggerExecution.objects.create(
            trigger=trigger, status=status, whatsapp_attempts=wa, **fields
        )
        TriggerExecution.objects.filter(pk=created.pk).update(created_at=NOW - ago)
        return created

    def events(kind: str, *agos: timedelta) -> None:
        for ago in agos:
            ExecutionEvent.objects.create(execution=sent, kind=kind, at=NOW - ago)

    sent = execution(timedelta(hours=1), "completed", wa=1)
    # Three messages the number accepted in the last 24 hours: the watermark's measure.
    number = main_instance()
    for minutes in (30, 90, 23 * 60):
        message = SentMessage.objects.create(
            execution=sent, instance=number, message_id=f"seeded-{minutes}", recipient="x", sent_at=NOW
        )
        SentMessage.objects.filter(pk=message.pk).update(sent_at=NOW - timedelta(minutes=minutes))
    execution(timedelta(hours=2), "failed_retryable", wa=3)  # in the DLQ
    execution(timedelta(hours=5), "failed_retryable", wa=2, redelivery_at=NOW + timedelta(minutes=5))
    execution(timedelta(days=3), "failed", wa=1)
    original = execution(timedelta(days=3), "replayed")
    execution(timedelta(days=2), "pending", replay_of=original)  # an operator replay
    execution(timedelta(days=10), "completed")  # a script without WhatsApp
    execution(timedelta(days=40), "completed", wa=2)  # outside every window
    day = timedelta(days=1)
    events("duplicate", timedelta(minutes=30), timedelta(minutes=31), 2 * day, 20 * day, 31 * day)
    events("redelivery", timedelta(hours=4), 8 * day)


def by_status(**counts: int) -> dict:
    statuses = ["pending", "running", "completed", "failed_retryable", "failed", "replayed", "held"]
    return {status: counts.get(status, 0) for status in statuses}


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (
            1,
            {
                "total_executions": 3,
                "by_status": by_status(completed=1, failed_retryable=2),
                "idempotent_replays": 2,
                "replays": 1,
                "wpp_command_count": 3,
                "retries_observed": 3,
            },
        ),
        (
            7,
            {
                "total_executions": 6,
                "by_status": by_status(completed=1, failed_retryable=2, failed=1, replayed=1, pending=1),
                "idempotent_replays": 3,
                "replays": 2,
                "wpp_command_count": 4,
                "retries_observed": 3,
            },
        ),
        (
            30,
            {
                "total_executions": 7,
                "by_status": by_status(completed=2, failed_retryable=2, failed=1, replayed=1, pending=1),
                "idempotent_replays": 4,
                "replays": 3,
                "wpp_command_count": 4,
                "retries_observed": 3,
            },
        ),
    ],
)
def test_every_metric_equals_the_seeded_numbers(seeded, days, expected):
    stats = compute_stats(days, now=NOW).as_dict()

    assert {key: stats[key] for key in expected} == expected
    assert stats["window_days"] == days
    assert stats["dlq_size"] == 1  # a state, not windowed; the scheduled redelivery is not in it
    assert (stats["whatsapp_sends_24h"], stats["circuit_breaker_watermark_hit"]) == (3, False)
    assert stats["watermark_threshold"] == 50


def test_duplicates_are_counted_when_they_arrive_through_the_webhook(make_trigger, post_event):
    trigger = make_trigger()
    for _ in range(4):
        post_event(trigger, {"idempotency_key": "same"})

    assert compute_stats(1).as_dict()["idempotent_replays"] == 3


def main_instance() -> Instance:
    return Instance.objects.get_or_create(name="main", defaults={"token": "main-token-0123456789"})[0]


def sends(make_trigger, count: int, *, instance: Instance | None = None) -> None:
    """Record `count` messages the instance (default `main`) accepted just now, each of an execution."""
    trigger = make_trigger()
    executions = TriggerExecution.objects.bulk_create(
        TriggerExecution(trigger=trigger, status="completed", whatsapp_attempts=1) for _ in range(count)
    )
    number = instance or main_instance()
    SentMessage.objects.bulk_create(
        SentMessage(execution=each, instance=number, message_id=f"m-{each.pk}", recipient="x", sent_at=NOW)
        for each in executions
    )


def test_50_whatsapp_sends_in_24_hours_are_below_the_watermark_and_51_hit_it(make_trigger):
    sends(make_trigger, 50)
    below = compute_stats(1).as_dict()["circuit_breaker_watermark_hit"]
    sends(make_trigger, 1)

    assert below is False
    assert compute_stats(1).as_dict()["circuit_breaker_watermark_hit"] is True


def test_sends_older_than_24_hours_do_not_count_whatever_the_window(make_trigger):
    sends(make_trigger, 51)
    SentMessage.objects.update(sent_at=NOW - timedelta(hours=25))

    assert compute_stats(30, now=NOW).as_dict()["circuit_breaker_watermark_hit"] is False


def test_reading_the_stats_writes_nothing_not_even_a_watermark_flip(make_trigger):
    sends(make_trigger, 51)

    assert compute_stats(1).watermark.hit is True
    assert Instance.objects.get().watermark_hit is False


def test_a_send_that_crosses_the_watermark_logs_the_flip_without_anyone_reading_stats(
    make_trigger, sandbox, caplog
):
    sends(make_trigger, 50, instance=Instance.objects.create(name="sandbox", token=SANDBOX_TOKEN))
    trigger = make_trigger(
        action_type="whatsapp", action_payload={"message": "hi"}, recipient="5511988887777"
    )
    execution = TriggerExecution.objects.create(trigger=trigger)

    with caplog.at_level("INFO", logger="evonexus.stats"):
        executor.execute(execution.pk)

    assert [r.getMessage() for r in caplog.records if r.name == "evonexus.stats"] == [
        "evt=circuit_breaker_watermark_hit instance=sandbox sends_24h=51 threshold=50"
    ]
    assert Instance.objects.get().watermark_hit is True


def stats_calls_in_two_processes(calls_each: int, **env: str) -> str:
    code = (
        "import django; django.setup(); from triggers.stats.figures import check_watermark; "
        "from whatsapp.models import Instance; number = Instance.objects.get(); "
        f"[check_watermark(number) for _ in range({calls_each})]"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, env=process_env(**env), stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120)[1] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    return "".join(outputs)


def test_the_watermark_warning_is_logged_once_across_processes_and_the_clearing_once(
    transactional_db, make_trigger
):
    sends(make_trigger, 51)

    hit_logs = stats_calls_in_two_processes(50)
    cleared_logs = stats_calls_in_two_processes(50, WHATSAPP_DAILY_WATERMARK="100")

    assert hit_logs.count("evt=circuit_breaker_watermark_hit") == 1
    assert re.search(
        r"WARNING evonexus.stats evt=circuit_breaker_watermark_hit instance=main sends_24h=51 threshold=50",
        hit_logs,
    )
    assert "watermark_cleared" not in hit_logs
    assert cleared_logs.count("evt=circuit_breaker_watermark_cleared") == 1
    assert "INFO evonexus.stats evt=circuit_breaker_watermark_cleared" in cleared_logs
    assert Instance.objects.get().watermark_hit is False


def test_the_api_needs_the_view_permission_on_executions_like_the_stats_page(django_user_model, db):
    bare_staff = django_user_model.objects.create_user("bare", password="pw-bare-1", is_staff=True)
    api = APIClient()
    api.force_authenticate(bare_staff)

    assert api.get("/api/triggers/stats").status_code == 403


def test_the_api_answers_the_same_numbers(staff_client, seeded):
    answer = staff_client.get("/api/triggers/stats", {"days": 7}).json()

    expected = compute_stats(7).as_dict()
    assert {k: v for k, v in answer.items() if k != "generated_at"} == {
        k: v for k, v in expected.items() if k != "generated_at"
    }


@pytest.mark.parametrize(("days", "window"), [("0", 1), ("-5", 1), ("31", 30), ("7", 7), (" 3 ", 3)])
def test_the_api_clamps_days_to_1_through_30(staff_client, days, window):
    assert staff_client.get("/api/triggers/stats", {"days": days}).json()["window_days"] == window


@pytest.mark.parametrize("days", ["seven", "1.5", "", "1e3"])
def test_the_api_refuses_days_that_are_not_integers(staff_client, days):
    response = staff_client.get("/api/triggers/stats", {"days": days})

    assert response.status_code == 400
    assert "integer" in response.json()["days"][0]


def run_stats_command(*args: str) -> tuple[int, str]:
    return run_command("trigger_stats", *args)


def test_the_commands_json_equals_the_apis_answer(staff_client, seeded):
    _, output = run_stats_command("--json", "--days", "30")
    answer = staff_client.get("/api/triggers/stats", {"days": 30}).json()

    from_command = json.loads(output)
    assert from_command.keys() == answer.keys()
    assert {k: v for k, v in from_command.items() if k != "generated_at"} == {
        k: v for k, v in answer.items() if k != "generated_at"
    }


def test_the_commands_table_is_aligned_and_readable(seeded):
    _, output = run_stats_command("--days", "7")

    lines = output.splitlines()
    assert lines[0].startswith("window") and "last 7 day(s)" in lines[0]
    assert any(re.match(r"dead-letter queue \(now\)\s+1$", line) for line in lines)
    assert any(re.match(r"WhatsApp sends, last 24 h\s+3/50$", line) for line in lines)
    value_columns = {re.match(r"^\s*\S.*?\s{2,}(?=\S)", line).end() for line in lines}
    assert len(value_columns) == 1  # every value starts in the same column


def test_fail_on_watermark_exits_2_when_hit_and_0_otherwise(make_trigger):
    sends(make_trigger, 50)
    below, _ = run_stats_command("--fail-on-watermark")
    sends(make_trigger, 1)
    hit, output = run_stats_command("--fail-on-watermark")

    assert (below, hit) == (0, 2)
    assert "HIT on main - slow down WhatsApp volume" in output


def test_sql_is_written_only_in_the_write_path_and_the_rollup():
    # The two places the ORM cannot say it in one round trip (recording) or at all (triggers).
    allowed = {"triggers/receive/recording.py", "triggers/stats/rollup.py"}
    forbidden = re.compile(r"\.raw\(|RawSQL\(|\.extra\(|cursor\(\)|\.execute\(")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("evonexus", "triggers", "whatsapp")
        for path in Path(ROOT, package).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line) and str(path.relative_to(ROOT)) not in allowed
    ]
    assert offenders == []


@pytest.fixture
def viewer(db, django_user_model):
    from django.contrib.auth.models import Permission
    from django.test import Client

    user = django_user_model.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_triggerexecution"))
    client = Client()
    client.force_login(user)
    return client


def test_the_stats_page_shows_1_7_and_30_days_with_links_and_a_green_badge(viewer, seeded):
    page = viewer.get("/admin/triggers/executionstats/").content.decode()

    assert "last 1 day" in page and "last 7 days" in page and "last 30 days" in page
    assert "below watermark (main: 3/50 in the last 24 h)" in page
    assert '<a href="/admin/triggers/triggerexecution/?status=failed_retryable">2</a>' in page
    assert '<a id="dlq-size" href="/admin/triggers/triggerexecution/?status=dlq">1</a>' in page


def test_the_stats_page_and_the_executions_list_show_the_amber_badge_when_hit(viewer, make_trigger):
    sends(make_trigger, 51)

    stats_page = viewer.get("/admin/triggers/executionstats/").content.decode()
    executions_page = viewer.get("/admin/triggers/triggerexecution/").content.decode()

    for page in (stats_page, executions_page):
        assert "watermark hit on main (51/50 in the last 24 h) — slow down WhatsApp volume" in page


def test_the_executions_list_shows_the_green_badge_below_the_watermark(viewer):
    page = viewer.get("/admin/triggers/triggerexecution/").content.decode()

    assert "below watermark (0/50 in the last 24 h)" in page


def test_the_stats_page_needs_the_view_permission(db, django_user_model):
    from django.test import Client

    client = Client()
    client.force_login(django_user_model.objects.create_user("nobody", password="pw-nobody-1", is_staff=True))

    assert client.get("/admin/triggers/executionstats/").status_code == 403


# --- per WhatsApp instance ---------------------------------------------------------------


@pytest.fixture
def two_numbers(make_trigger):
    """Number `a` near its watermark (9 of 10, cap 12); `b` over it (6 of 5)."""
    a = Instance.objects.create(name="a", token="token-of-a-0123456", watermark=10, daily_cap=12)
    b = Instance.objects.create(name="b", token="token-of-b-0123456", watermark=5)
    sends(make_trigger, 9, instance=a)
    sends(make_trigger, 6, instance=b)
    return a, b


def test_each_number_has_its_own_watermark_and_cap_and_the_badge_shows_the_worst(two_numbers):
    stats = compute_stats(1).as_dict()

    by_name = {each["instance"]: each for each in stats["instances"]}
    a, b = by_name["a"], by_name["b"]
    assert (a["sends_24h"], a["watermark_hit"], a["daily_cap_room"]) == (9, False, 3)
    assert (b["sends_24h"], b["watermark_hit"], b["daily_cap"]) == (6, True, None)
    assert (stats["whatsapp_sends_24h"], stats["circuit_breaker_watermark_hit"]) == (15, True)
    assert stats["worst_instance"] == "b"


def test_the_api_and_the_command_filter_by_instance_and_refuse_an_unknown_one(two_numbers, staff_client):
    one = staff_client.get("/api/triggers/stats?instance=a").json()
    unknown = staff_client.get("/api/triggers/stats?instance=zz")
    code, output = run_command("trigger_stats", "--json", "--instance", "a")

    assert (one["instance"], one["messages_sent"]) == ("a", 9)
    assert [each["instance"] for each in one["instances"]] == ["a"]
    assert json.loads(output) == {**one, "generated_at": json.loads(output)["generated_at"]}
    assert code == 0
    assert (unknown.status_code, list(unknown.json())) == (400, ["instance"])
    with pytest.raises(CommandError, match="no WhatsApp instance 'zz'; instances: a, b"):
        run_command("trigger_stats", "--instance", "zz")


def test_the_stats_page_lists_each_number_and_links_its_filter(two_numbers, viewer):
    page = viewer.get("/admin/triggers/executionstats/").content.decode()
    filtered = viewer.get("/admin/triggers/executionstats/?instance=a").content.decode()
    unknown = viewer.get("/admin/triggers/executionstats/?instance=zz")

    assert '<a href="?instance=a">a</a>' in page and '<a href="?instance=b">b</a>' in page
    assert "watermark hit on b (6/5 in the last 24 h)" in page
    assert "(messages above: a only" in filtered
    assert unknown.status_code == 200 and "showing every one" in unknown.content.decode()

"""Script actions run in the background worker and end with the right status and category."""

import json

import pytest

from tests.support.forms import write_script
from tests.support.processes import run_worker
from triggers.execute import executor
from triggers.models import TriggerExecution
from triggers.receive.recording import record_event


@pytest.mark.parametrize(
    ("script_body", "status", "category"),
    [
        ("cat; echo done", "completed", None),
        ("echo try later >&2; exit 75", "failed_retryable", "transient"),
        ("echo broken >&2; exit 1", "failed", "permanent"),
        ("sleep 30", "failed_retryable", "transient"),
    ],
    ids=["exit-0", "exit-75", "exit-1", "timeout"],
)
def test_a_script_ends_with_its_status_and_category_through_a_real_db_worker(
    transactional_db, make_trigger, scripts_dir, script_body, status, category
):
    write_script(scripts_dir, "record.sh", script_body)
    execution_id = record_event(make_trigger(), {"data": {"n": 1}}, None).execution_id

    run_worker(scripts_dir, SCRIPT_TIMEOUT_SECONDS="1")

    execution = TriggerExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.error_category) == (status, category)
    assert execution.attempts == 1
    assert execution.started_at and execution.completed_at
    assert execution.duration_seconds is not None


def test_a_script_reads_the_event_on_stdin_and_its_output_is_kept(
    transactional_db, make_trigger, scripts_dir
):
    write_script(scripts_dir, "record.sh", "cat")
    event = {"source": "custom", "data": {"order": 7}}
    execution_id = record_event(make_trigger(), event, None).execution_id

    run_worker(scripts_dir)

    execution = TriggerExecution.objects.get(pk=execution_id)
    assert json.loads(execution.result_summary) == event


def test_a_failing_script_keeps_its_exit_code_and_stderr_in_the_error(make_trigger, scripts_dir):
    write_script(scripts_dir, "record.sh", "echo 'disk full' >&2; exit 3")
    execution_id = record_event(make_trigger(), {}, None).execution_id

    assert executor.execute(execution_id) == "failed"

    assert TriggerExecution.objects.get(pk=execution_id).error == "script exited with code 3: disk full"


@pytest.mark.parametrize("name", ["../outside.sh", "/bin/sh", "missing.sh", "not-executable.sh"])
def test_a_script_outside_the_directory_missing_or_not_executable_fails_permanently(
    make_trigger, scripts_dir, name
):
    (scripts_dir.parent / "outside.sh").write_text("#!/bin/sh\necho escaped\n")
    (scripts_dir / "not-executable.sh").write_text("#!/bin/sh\necho hi\n")
    execution_id = record_event(make_trigger(action_payload={"script": name}), {}, None).execution_id

    assert executor.execute(execution_id) == "failed"

    execution = TriggerExecution.objects.get(pk=execution_id)
    assert execution.error_category == "permanent"
    assert "escaped" not in execution.result_summary


def test_a_script_gets_no_service_secrets_in_its_environment(make_trigger, scripts_dir, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "the-service-secret-key")
    write_script(scripts_dir, "record.sh", "env")
    execution_id = record_event(make_trigger(slug="env-check"), {}, None).execution_id

    executor.execute(execution_id)

    output = TriggerExecution.objects.get(pk=execution_id).result_summary
    assert "the-service-secret-key" not in output
    assert "EVONEXUS_TRIGGER=env-check" in output


def test_an_execution_is_claimed_by_exactly_one_worker(make_trigger, scripts_dir, tmp_path):
    ran = tmp_path / "ran.txt"
    write_script(scripts_dir, "record.sh", f"echo ran >> {ran}")
    execution_id = record_event(make_trigger(), {}, None).execution_id

    results = [executor.execute(execution_id) for _ in range(3)]

    assert results == ["completed", None, None]
    assert ran.read_text() == "ran\n"


def test_output_beyond_the_limit_is_truncated(make_trigger, scripts_dir, settings):
    settings.SCRIPT_OUTPUT_MAX_CHARS = 100
    write_script(scripts_dir, "record.sh", "head -c 5000 /dev/zero | tr '\\0' x")
    execution_id = record_event(make_trigger(), {}, None).execution_id

    executor.execute(execution_id)

    summary = TriggerExecution.objects.get(pk=execution_id).result_summary
    assert summary.startswith("x" * 100)
    assert summary.endswith("[truncated 4900 chars]")

"""No accepted event is lost and none runs twice when processes die; the reaper finds the rest."""

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
from django.conf import settings
from django.utils import timezone

from tests.support.forms import write_script
from tests.support.processes import ROOT, ServerProcess, process_env, run_worker, worker_command
from tests.support.queue import drop_queued_tasks, queued_execution_ids
from tests.support.signing import sign, webhook_path
from triggers.execute import executor
from triggers.execute.reaper import reap
from triggers.models import LOST_WORKER_ERROR, TriggerExecution
from triggers.receive.recording import record_event


def running_since(execution_id: int, seconds_ago: float) -> None:
    TriggerExecution.objects.filter(pk=execution_id).update(
        status="running", started_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


def test_a_run_past_its_lease_goes_to_the_dlq_as_unknown_and_is_not_rerun(make_trigger):
    lost = record_event(make_trigger(), {}, "lost").execution_id
    alive = record_event(make_trigger(), {}, "alive").execution_id
    running_since(lost, settings.EXECUTION_LEASE_SECONDS + 1)
    running_since(alive, settings.EXECUTION_LEASE_SECONDS - 5)

    result = reap()

    assert result.lost == [lost]
    execution = TriggerExecution.objects.get(pk=lost)
    assert (execution.status, execution.error_category, execution.error) == (
        "failed_retryable",
        "unknown",
        LOST_WORKER_ERROR,
    )
    assert TriggerExecution.objects.dead_letter().filter(pk=lost).exists()
    assert TriggerExecution.objects.get(pk=alive).status == "running"
    assert executor.execute(lost) is None  # never re-run by itself


def test_a_stranded_pending_execution_is_requeued_once_per_period(
    make_trigger, scripts_dir, django_capture_on_commit_callbacks
):
    write_script(scripts_dir, "record.sh", "echo ran")
    execution_id = record_event(make_trigger(), {}, "k").execution_id
    drop_queued_tasks()  # its task was lost
    later = timezone.now() + timedelta(seconds=settings.PENDING_REQUEUE_SECONDS + 1)

    # Redis queues after the commit: run those callbacks, as a real commit would.
    with django_capture_on_commit_callbacks(execute=True):
        first, again = reap(now=later), reap(now=later)

    assert (first.requeued, again.requeued) == ([execution_id], [])
    assert queued_execution_ids() == [execution_id]
    assert executor.execute(execution_id) == "completed"


def test_a_young_pending_execution_is_left_alone(make_trigger):
    record_event(make_trigger(), {}, "k")

    assert reap().requeued == []


def test_reapers_on_two_machines_handle_each_lost_run_once(transactional_db, make_trigger):
    trigger = make_trigger()
    for n in range(20):
        running_since(record_event(trigger, {}, f"k{n}").execution_id, settings.EXECUTION_LEASE_SECONDS + 60)
    command = [*worker_command()[:2], "reap_executions"]

    processes = [
        subprocess.Popen(command, cwd=ROOT, env=process_env(), stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=60)[0] for process in processes]

    reaped = sum(int(output.split()[1]) for output in outputs)
    assert reaped == 20, outputs
    assert TriggerExecution.objects.filter(status="failed_retryable", error_category="unknown").count() == 20


def test_a_worker_killed_mid_execution_loses_nothing_and_runs_nothing_twice(
    transactional_db, make_trigger, scripts_dir, tmp_path
):
    log = tmp_path / "runs.log"
    write_script(scripts_dir, "slow.sh", f'echo "start $EVONEXUS_EXECUTION_ID" >> {log}; sleep 2; echo done')
    trigger = make_trigger(action_payload={"script": "slow.sh"})
    accepted = [record_event(trigger, {"n": n}, f"evt-{n}").execution_id for n in range(4)]
    worker = subprocess.Popen(
        worker_command(burst=False),
        cwd=ROOT,
        env=process_env(SCRIPTS_DIR=str(scripts_dir)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # rqworker forks a scheduler: the kill must reach it too
    )
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)  # in the middle of the first script
    worker.wait()

    # The lease runs out (the clock moves on), then a fresh worker drains the queue.
    reap(now=timezone.now() + timedelta(seconds=settings.EXECUTION_LEASE_SECONDS + 1))
    run_worker(scripts_dir)

    outcomes = dict(TriggerExecution.objects.filter(pk__in=accepted).values_list("pk", "status"))
    assert sorted(outcomes) == sorted(accepted)  # none lost
    lost = [pk for pk, status in outcomes.items() if status != "completed"]
    assert len(lost) == 1
    assert TriggerExecution.objects.get(pk=lost[0]).error_category == "unknown"
    starts = log.read_text().split()[1::2]
    assert sorted(starts) == sorted(str(pk) for pk in accepted)  # each ran exactly once


def test_a_web_server_killed_during_a_burst_keeps_every_answered_event_with_its_task(
    transactional_db, make_trigger, tmp_path
):
    server = ServerProcess(tmp_path / "server.log")
    trigger = make_trigger()
    url = server.url + webhook_path(trigger)

    def deliver(n: int):
        body = json.dumps({"idempotency_key": f"burst-{n}"}).encode()
        headers = {"Content-Type": "application/json", "X-Webhook-Signature": sign(body)}
        try:
            return requests.post(url, data=body, headers=headers, timeout=10)
        except requests.RequestException:
            return None

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(deliver, n) for n in range(400)]
        while sum(f.done() for f in futures) < 60:
            time.sleep(0.01)
        server.kill()
        answers = [f.result() for f in futures]

    accepted = [a.json()["execution_id"] for a in answers if a is not None and a.status_code == 202]
    assert len(accepted) >= 60
    assert any(a is None for a in answers)  # the kill really cut the burst
    stored = set(TriggerExecution.objects.values_list("pk", flat=True))
    assert set(accepted) <= stored  # every 2xx has its row
    if settings.TASKS_BACKEND == "database":
        # The task commits with its row: not one row is without its task, even before the reaper.
        assert stored == set(queued_execution_ids())
    # Redis queues after the commit, so a kill in between strands a row: the reaper queues it.
    reap(now=timezone.now() + timedelta(seconds=settings.PENDING_REQUEUE_SECONDS + 1))
    assert stored <= set(queued_execution_ids())


def test_healthz_answers_200_with_the_database_and_503_without(transactional_db, client, tmp_path):
    healthy = client.get("/healthz")
    server = ServerProcess(tmp_path / "server.log", DATABASE_URL="postgres://postgres@127.0.0.1:1/none")
    try:
        unhealthy = requests.get(f"{server.url}/healthz", timeout=30)
    finally:
        server.stop()

    assert (healthy.status_code, healthy.json()["status"], healthy.json()["database"]) == (200, "ok", "ok")
    assert healthy.json()["gateways"] == []  # no WhatsApp instance here
    assert (unhealthy.status_code, unhealthy.json()["status"]) == (503, "unavailable")

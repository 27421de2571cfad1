"""PgBouncer in transaction mode in front of PostgreSQL: everything still works through it.

What PostgreSQL deployments put in front of many workers: Debian's `pgbouncer`,
`pool_mode = transaction`, the service with `DATABASE_PREPARED_STATEMENTS=false`
(docs/production.md). Each transaction may land on another server connection,
so anything that keeps state on a server session (an advisory lock, a `SET`, a
prepared statement) would break here unseen. Ingest, duplicates, the worker,
the breaker, replay, the reaper and stats all go through it.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.support.processes import ROOT, ServerProcess, free_port, process_env, run_worker
from tests.support.sandbox import SANDBOX_TOKEN
from tests.support.signing import SECRET, sign, webhook_path
from triggers.execute import breaker
from triggers.models import TriggerExecution

pytestmark = [pytest.mark.process, pytest.mark.postgresql_only]

PGBOUNCER = "/usr/sbin/pgbouncer"


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {log.read_text() if log.exists() else ''}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("pgbouncer did not listen within 15 s")


@pytest.fixture
def pgbouncer_url(transactional_db):
    """Return a DATABASE_URL for the test database through a running pgbouncer in transaction mode."""
    assert shutil.which(PGBOUNCER) or os.path.exists(PGBOUNCER), (
        "Debian's pgbouncer is needed: apt-get install pgbouncer (.ci/run installs it)"
    )
    # pgbouncer refuses root: it runs as postgres, which must reach its files (pytest's
    # own temporary directories are private to root).
    home = Path(tempfile.mkdtemp(prefix="evonexus-pgbouncer-"))
    home.chmod(0o777)
    port = free_port()
    settings = connection.settings_dict
    (home / "users.txt").write_text(f'"{settings["USER"]}" ""\n')
    config = home / "pgbouncer.ini"
    config.write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={settings['HOST'] or '127.0.0.1'} port={settings['PORT'] or 5432}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {home / 'users.txt'}",
                "pool_mode = transaction",
                "max_client_conn = 200",
                "default_pool_size = 8",
                f"logfile = {home / 'pgbouncer.log'}",
                f"pidfile = {home / 'pgbouncer.pid'}",
                "ignore_startup_parameters = extra_float_digits,options",
            ]
        )
        + "\n"
    )
    for path in home.iterdir():
        path.chmod(0o666)
    process = subprocess.Popen([PGBOUNCER, "-u", "postgres", str(config)], stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, process, home / "pgbouncer.log")
        yield f"postgres://{settings['USER']}@127.0.0.1:{port}/{settings['NAME']}"
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(home, ignore_errors=True)


def connection_event(event: str) -> dict:
    return {"event": event, "data": {}, "instanceToken": SANDBOX_TOKEN, "instanceName": "sandbox"}


def manage(command: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ingest_duplicates_worker_breaker_replay_reaper_and_stats_work_through_pgbouncer(
    pgbouncer_url, sandbox, make_trigger, tmp_path, admin_user
):
    env = {"DATABASE_URL": pgbouncer_url, "DATABASE_PREPARED_STATEMENTS": "false", **sandbox.env()}
    server = ServerProcess(tmp_path / "server.log", **env)
    try:
        message = {"message": "order {{ data.n }}"}
        shop = make_trigger(action_type="whatsapp", action_payload=message, recipient="5511988887777")
        phone = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN)

        def post(trigger, payload: dict, signed: bool = True) -> requests.Response:
            body = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json"}
            if signed:
                headers["X-Webhook-Signature"] = sign(body, SECRET)
            return requests.post(server.url + webhook_path(trigger), data=body, headers=headers, timeout=30)

        # Ingest and a duplicate, through pgbouncer.
        first = post(shop, {"idempotency_key": "order-1", "n": 1})
        again = post(shop, {"idempotency_key": "order-1", "n": 1})
        assert (first.status_code, again.json()["status"]) == (202, "duplicate")

        # The worker runs it.
        run_worker(**env)
        assert TriggerExecution.objects.get(pk=first.json()["execution_id"]).status == "completed"
        assert [m["body"]["text"] for m in sandbox.messages()] == ["order 1"]

        # The breaker: the instance says it is gone, a send waits; it says it is back, the probe closes it.
        requests.post(f"{sandbox.url}/_sandbox/state", json={"connected": False}, timeout=5)
        gone = post(phone, connection_event("Disconnected"), signed=False)
        held = post(shop, {"idempotency_key": "order-2", "n": 2})
        run_worker(**env)
        assert gone.json() == {"status": "ignored", "reason": "connection"}
        assert TriggerExecution.objects.get(pk=held.json()["execution_id"]).status == "held"
        requests.post(f"{sandbox.url}/_sandbox/state", json={"connected": True}, timeout=5)
        post(phone, connection_event("Connected"), signed=False)
        run_worker(**env)  # the probe, the trial send
        run_worker(**env)  # what the close released
        assert breaker.status(phone.instance).state == "closed"
        assert TriggerExecution.objects.get(pk=held.json()["execution_id"]).status == "completed"

        # Replay and the reaper, as commands through pgbouncer.
        failed = TriggerExecution.objects.get(pk=first.json()["execution_id"])
        TriggerExecution.objects.filter(pk=failed.pk).update(status="failed_retryable")
        replayed = manage(["replay_executions", str(failed.pk)], env)
        reaped = manage(["reap_executions"], env)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert reaped.returncode == 0, reaped.stdout + reaped.stderr
        assert TriggerExecution.objects.filter(replay_of=failed).count() == 1

        # Stats through the API, equal to the rows.
        token = Token.objects.create(user=admin_user)
        stats = requests.get(
            server.url + "/api/triggers/stats/", headers={"Authorization": f"Token {token.key}"}, timeout=30
        )
        assert stats.status_code == 200
        assert stats.json()["total_executions"] == TriggerExecution.objects.count()
        assert " 500 " not in server.log()
    finally:
        server.stop()

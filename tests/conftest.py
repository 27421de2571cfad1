"""Shared fixtures: triggers, signed requests, and real server and worker processes."""

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import django_rq
import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from triggers.ingest import record_event
from triggers.models import Trigger, TriggerExecution
from whatsapp import client as gateway_client
from whatsapp.retry import RetryPolicy
from whatsapp.sandbox import SandboxServer, SandboxState

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-trigger-secret-0123456789abcdef"


def sign(body: bytes, secret: str = SECRET) -> str:
    """Return the hex HMAC-SHA256 of `body`, as X-Webhook-Signature carries it."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_headers(source: str, body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict:
    """Return the headers with which `source` would sign `body` at time `at` (default now)."""
    timestamp = str(int(time.time() if at is None else at))
    if source == "github":
        return {"X-Hub-Signature-256": "sha256=" + sign(body, secret)}
    if source == "stripe":
        return {"Stripe-Signature": f"t={timestamp},v1={sign(timestamp.encode() + b'.' + body, secret)}"}
    if source == "linear":
        return {"Linear-Signature": sign(body, secret)}
    if source == "standard":
        msg_id = "msg_2Kd8f0aZ"
        digest = hmac.new(secret.encode(), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(digest.digest()).decode(),
        }
    return {"X-Webhook-Signature": sign(body, secret)}


@pytest.fixture
def scripts_dir(tmp_path, settings):
    """Return a fresh SCRIPTS_DIR; `write_script(name, body)` puts a script in it."""
    directory = tmp_path / "scripts"
    directory.mkdir()
    settings.SCRIPTS_DIR = directory
    return directory


def write_script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def make_trigger(db):
    """Return a factory for triggers with a known secret (custom source, script action)."""

    def make(**fields) -> Trigger:
        n = Trigger.objects.count() + 1
        defaults = {
            "name": f"Trigger {n}",
            "slug": f"trigger-{n}",
            "source": "custom",
            "secret": SECRET,
            "action_type": "script",
            "action_payload": {"script": "record.sh"},
        }
        return Trigger.objects.create(**{**defaults, **fields})

    return make


def webhook_path(trigger: Trigger) -> str:
    return f"/api/triggers/{trigger.public_id}/webhook"


@pytest.fixture
def post_event(client):
    """Return a function that POSTs a JSON event to a trigger, signed unless told not to."""

    def post(trigger: Trigger, payload, *, headers=None, signed=True, raw: bytes | None = None):
        body = raw if raw is not None else json.dumps(payload).encode()
        all_headers = {"X-Webhook-Signature": sign(body)} if signed else {}
        all_headers.update(headers or {})
        return client.post(
            webhook_path(trigger), data=body, content_type="application/json", headers=all_headers
        )

    return post


@pytest.fixture
def make_failed_execution(make_trigger):
    """Return a factory for executions that failed (by default transiently: in the DLQ)."""

    def make(
        trigger: Trigger | None = None,
        key: str | None = "evt-1",
        *,
        status="failed_retryable",
        category="transient",
        event: dict | None = None,
    ) -> TriggerExecution:
        trigger = trigger or make_trigger()
        execution_id = record_event(
            trigger, event or {"text": "/status", "sender": "5511977776666"}, key
        ).execution_id
        TriggerExecution.objects.filter(pk=execution_id).update(
            status=status, error_category=category, attempts=3
        )
        return TriggerExecution.objects.get(pk=execution_id)

    return make


@pytest.fixture(autouse=True)
def clear_cache():
    """Start each test with empty rate-limit counters (and, on RQ, an empty queue)."""
    cache.clear()
    if settings.TASKS_BACKEND == "rq":
        django_rq.get_queue("default").empty()


def queued_execution_ids() -> list[int]:
    """Return the execution id of every queued task, whichever backend holds them."""
    if settings.TASKS_BACKEND == "rq":
        return [job.args[0] for job in django_rq.get_queue("default").get_jobs()]
    return [task.args_kwargs["args"][0] for task in DBTaskResult.objects.all()]


@pytest.fixture
def replayer(db, django_user_model):
    """Return a staff user holding the replay permission."""
    user = django_user_model.objects.create_user("replayer", password="pw-replayer-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="replay_triggerexecution"))
    return django_user_model.objects.get(pk=user.pk)  # fresh: permissions are cached per instance


OPERATOR_PERMISSIONS = [
    "view_trigger",
    "add_trigger",
    "change_trigger",
    "delete_trigger",
    "view_triggerexecution",
]


@pytest.fixture
def staff_client(db, django_user_model):
    """Return an API client for an operator: staff who may manage triggers and read executions."""
    user = django_user_model.objects.create_user("operator", password="pw-operator-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=OPERATOR_PERMISSIONS))
    api = APIClient()
    api.force_authenticate(user)
    return api


def database_url() -> str:
    """Return a DATABASE_URL for the test database the current test runs against."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log_path: Path | None = None) -> None:
    """Return once `url` answers any HTTP response; raise if `process` exits or 30 s pass."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text()[-2000:] if log_path else ""
            raise RuntimeError(f"process exited before serving {url}: {log}")
        try:
            # Connect quickly, but give the first request time: it imports lazily.
            requests.get(url, timeout=(1, 10))
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within 30 s")


class ServerProcess:
    """A gunicorn process serving the project on a loopback port."""

    def __init__(self, log_path: Path, workers: int = 2, threads: int = 4, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "evonexus.wsgi",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=process_env(**env),
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so kill() reaches the master and every worker
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        wait_until_serving(f"{self.url}/api/triggers/none/webhook", self.process, self.log_path)

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: a crash, not a shutdown."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def server(transactional_db, tmp_path):
    """Return a real gunicorn server process on the test database."""
    process = ServerProcess(tmp_path / "server.log")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def module_server(django_db_setup, tmp_path_factory):
    """Return one gunicorn server for a whole test module (its tests need `transactional_db`)."""
    process = ServerProcess(tmp_path_factory.mktemp("server") / "server.log")
    yield process
    process.stop()


def assert_unharmed(server: ServerProcess) -> None:
    """Assert that the server process is up and has never answered a 5xx nor logged a traceback."""
    assert server.process.poll() is None, "the server died"
    assert not re.search(r'" 5\d\d ', server.log()), server.log()[-3000:]
    assert "Traceback" not in server.log(), server.log()[-3000:]


def admin_trigger_form(**fields: str) -> dict[str, str]:
    """Return POST data for the admin's trigger form: a valid script trigger, with `fields` changed."""
    return {
        "name": "Form trigger",
        "slug": "form-trigger",
        "source": "custom",
        "secret": "a-secret-of-enough-length",
        "event_filter": "{}",
        "idempotency_key_paths": "[]",
        "action_type": "script",
        "action_payload": '{"script": "a.sh"}',
        "recipient": "",
        "auto_redeliveries": "0",
        "enabled": "on",
        **fields,
    }


SANDBOX_TOKEN = "sandbox-instance-token-for-tests"
SANDBOX_GLOBAL_KEY = "sandbox-global-key-for-tests"


class Sandbox:
    """A running Evolution Go sandbox, with helpers to script faults and read what it got."""

    def __init__(self, **config):
        self.state = SandboxState(instance_token=SANDBOX_TOKEN, global_key=SANDBOX_GLOBAL_KEY, **config)
        self.server = SandboxServer("127.0.0.1", 0, self.state)
        self.server.start_in_thread()
        self.url = self.server.url

    def fail_next(self, *faults: dict) -> None:
        requests.post(f"{self.url}/_sandbox/faults", json={"faults": list(faults)}, timeout=5)

    def messages(self) -> list[dict]:
        return requests.get(f"{self.url}/_sandbox/messages", timeout=5).json()["messages"]

    def attempts(self) -> list[dict]:
        return requests.get(f"{self.url}/_sandbox/requests", timeout=5).json()["requests"]

    def env(self) -> dict[str, str]:
        """Return the environment that points a server or worker process at this sandbox."""
        return {
            "EVOLUTION_GO_URL": self.url,
            "EVOLUTION_GO_INSTANCE_TOKEN": SANDBOX_TOKEN,
            "EVOLUTION_GO_KEY": SANDBOX_GLOBAL_KEY,
        }

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: a crash, not a shutdown."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sandbox(settings):
    """Return a running sandbox; the settings point the gateway client at it."""
    running = Sandbox(not_registered={"5511900000000"})
    settings.EVOLUTION_GO_URL = running.url
    settings.EVOLUTION_GO_INSTANCE_TOKEN = SANDBOX_TOKEN
    settings.EVOLUTION_GO_KEY = SANDBOX_GLOBAL_KEY
    yield running
    running.stop()


@pytest.fixture
def sleeps(monkeypatch):
    """Return the list of sleeps the retry policy asked for; nothing really sleeps.

    The policy's sleep is injected through `client_from_settings`, the one
    place every gateway client in the service is made.
    """
    asked: list[float] = []
    make_client = gateway_client.client_from_settings

    def client_with_recorded_sleep(**overrides):
        return make_client(policy=RetryPolicy(sleep=asked.append), **overrides)

    monkeypatch.setattr(gateway_client, "client_from_settings", client_with_recorded_sleep)
    return asked


def worker_command(*, burst: bool = True) -> list[str]:
    """Return the command of a task worker for the configured backend (db_worker or rqworker)."""
    if os.environ.get("TASKS_BACKEND") == "rq":
        command = [
            "rqworker",
            "default",
            "--job-class",
            "django_tasks_rq.Job",
            "--with-scheduler",
            "--worker-class",
            "rq.worker.SimpleWorker",
        ]
        return [sys.executable, "manage.py", *command, *(["--burst"] if burst else [])]
    command = ["db_worker", "--no-startup-delay", "--no-reload", "--interval", "0.1"]
    return [sys.executable, "manage.py", *command, *(["--batch"] if burst else [])]


def run_worker(scripts_dir: Path | None = None, timeout: float = 120, **env: str) -> str:
    """Run a task worker until the queue is empty (db_worker --batch, or rqworker --burst)."""
    if scripts_dir is not None:
        env["SCRIPTS_DIR"] = str(scripts_dir)
    result = subprocess.run(
        worker_command(),
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr

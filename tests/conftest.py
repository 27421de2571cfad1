"""Fixtures: triggers, users, requests, and real server and sandbox processes.

What is not a fixture (signing, process harness, the sandbox class, form data)
lives in `tests/support/`, shared with `bench/`.
"""

import json

import django_rq
import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.support.processes import ServerProcess, free_port
from tests.support.sandbox import SANDBOX_GLOBAL_KEY, SANDBOX_TOKEN, Sandbox
from tests.support.signing import SECRET, sign, webhook_path
from triggers.models import Trigger, TriggerExecution
from triggers.receive.recording import record_event
from whatsapp import client as gateway_client
from whatsapp.client import EvolutionClient
from whatsapp.media import MediaStore
from whatsapp.retry import RetryPolicy

# Fixtures only a test that starts processes needs: a server, or committed rows that a
# worker or server process can read. Modules that start processes otherwise say so
# with `pytestmark = pytest.mark.process`.
PROCESS_FIXTURES = {"server", "module_server", "transactional_db", "live_server"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # `make test-fast` runs `-m "not process"`: the in-process tests alone.
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.process)
    # What exists only on PostgreSQL (PgBouncer in front of it) runs in the PostgreSQL runs
    # (make test's second stage, CI's) and is left out of the others, as deselected.
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        left_out = [item for item in items if item.get_closest_marker("postgresql_only")]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if item not in left_out]


@pytest.fixture
def scripts_dir(tmp_path, settings):
    """Return a fresh SCRIPTS_DIR; `write_script(name, body)` puts a script in it."""
    directory = tmp_path / "scripts"
    directory.mkdir()
    settings.SCRIPTS_DIR = directory
    return directory


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
    "view_instance",
    "add_instance",
    "change_instance",
    "delete_instance",
]


@pytest.fixture
def staff_client(db, django_user_model):
    """Return an API client for an operator: staff who may manage triggers and read executions."""
    user = django_user_model.objects.create_user("operator", password="pw-operator-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=OPERATOR_PERMISSIONS))
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def server(transactional_db, tmp_path):
    """Return a real gunicorn server process on the test database.

    It knows the sandboxes' instance token, as a deployment knows its gateway's:
    only that instance's receipts and connection events move anything.
    """
    process = ServerProcess(tmp_path / "server.log", EVOLUTION_GO_INSTANCE_TOKEN=SANDBOX_TOKEN)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def module_server(django_db_setup, tmp_path_factory):
    """Return one gunicorn server for a whole test module (its tests need `transactional_db`)."""
    process = ServerProcess(tmp_path_factory.mktemp("server") / "server.log")
    yield process
    process.stop()


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
def connected(server, sandbox, make_trigger):
    """Return a function that makes a whatsapp trigger and points the sandbox's webhooks at it."""

    def connect(subscribe: list[str], **fields) -> Trigger:
        trigger = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN, action_type="whatsapp", **fields)
        result = EvolutionClient(sandbox.url, SANDBOX_TOKEN).connect(
            server.url + webhook_path(trigger), subscribe=subscribe
        )
        assert result.ok, result.error
        return trigger

    return connect


@pytest.fixture
def s3_store(settings):
    """Return a MediaStore on a local S3-compatible server (moto in server mode), set in the settings."""
    from moto.server import ThreadedMotoServer  # heavy: imported only by the tests that need it

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # moto keeps its buckets in this process, across servers: start from none.
    requests.post(f"http://127.0.0.1:{port}/moto-api/reset", timeout=10)
    store = MediaStore(
        endpoint_url=f"http://127.0.0.1:{port}",
        bucket="evonexus-media",
        access_key_id="test-access-key",
        secret_access_key="test-secret-key",
        region="us-east-1",
        url_ttl_seconds=600,
    )
    store._client().create_bucket(Bucket=store.bucket)
    settings.MEDIA_S3_ENDPOINT_URL = store.endpoint_url
    settings.MEDIA_S3_BUCKET = store.bucket
    settings.MEDIA_S3_ACCESS_KEY_ID = store.access_key_id
    settings.MEDIA_S3_SECRET_ACCESS_KEY = store.secret_access_key
    settings.MEDIA_S3_REGION = store.region
    yield store
    server.stop()


@pytest.fixture
def sleeps(monkeypatch):
    """Return the list of sleeps the retry policy asked for; nothing really sleeps.

    The policy's sleep is injected through `make_client`, the one place every
    gateway client in the service is made.
    """
    asked: list[float] = []
    make_client = gateway_client.make_client

    def client_with_recorded_sleep(base_url, instance_token, **overrides):
        overrides.setdefault("policy", RetryPolicy(sleep=asked.append))
        return make_client(base_url, instance_token, **overrides)

    monkeypatch.setattr(gateway_client, "make_client", client_with_recorded_sleep)
    return asked

"""Prometheus metrics: protected, and summed across server processes."""

import json

import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import ServerProcess
from tests.support.sandbox import SANDBOX_GLOBAL_KEY, SANDBOX_TOKEN
from tests.support.signing import sign, webhook_path
from whatsapp.client import EvolutionClient
from whatsapp.retry import RetryPolicy

TOKEN = "metrics-token-for-tests-0123456789"


def samples(text: str) -> dict:
    """Return {(name, frozenset(labels)): value} for every sample in a scrape."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_need_the_token_or_a_staff_login(client, admin_client, settings):
    settings.METRICS_TOKEN = TOKEN

    anonymous = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    bearer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert anonymous["WWW-Authenticate"] == "Bearer"
    assert bearer.status_code == 200
    assert admin_client.get("/metrics").status_code == 200


def test_without_a_configured_token_no_bearer_gets_in(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def test_counters_match_the_requests_sent_summed_across_two_server_processes(
    transactional_db, make_trigger, tmp_path
):
    (tmp_path / "prometheus").mkdir()  # exists, and empty, before any process starts
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"), "METRICS_TOKEN": TOKEN}
    first = ServerProcess(tmp_path / "first.log", workers=1, **env)
    second = ServerProcess(tmp_path / "second.log", workers=1, **env)
    trigger, disabled = make_trigger(), make_trigger(enabled=False)

    def post(server, target, payload, signed=True):
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Webhook-Signature": sign(body) if signed else "bad"}
        return requests.post(server.url + webhook_path(target), data=body, headers=headers, timeout=30)

    try:
        for key in ("a", "b", "c", "a", "a"):  # 3 accepted, 2 duplicates
            post(first, trigger, {"idempotency_key": key})
        post(second, trigger, {"idempotency_key": "d"})  # accepted
        post(second, disabled, {"idempotency_key": "e"})  # ignored
        post(second, trigger, {"idempotency_key": "f"}, signed=False)  # rejected
        post(second, trigger, {"idempotency_key": "g"}, signed=False)  # rejected
        scrape = requests.get(
            f"{first.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
    finally:
        first.stop()
        second.stop()

    assert scrape.status_code == 200
    values = samples(scrape.text)

    def webhooks(outcome: str) -> float:
        return values[("evonexus_webhooks_total", frozenset({("source", "custom"), ("outcome", outcome)}))]

    assert (webhooks("accepted"), webhooks("duplicate"), webhooks("ignored"), webhooks("rejected")) == (
        4,
        2,
        1,
        2,
    )
    assert values[("evonexus_webhook_seconds_count", frozenset())] == 9
    assert values[("evonexus_executions_total", frozenset({("status", "pending")}))] == 4
    assert values[("evonexus_executions_total", frozenset({("status", "failed")}))] == 0
    assert values[("evonexus_dlq_size", frozenset())] == 0


def test_whatsapp_send_attempts_are_counted_by_outcome(sandbox):
    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("evonexus_whatsapp_send_attempts_total", {"outcome": outcome}) or 0

    before = {outcome: count(outcome) for outcome in ("ok", "transient", "permanent")}
    client = EvolutionClient(
        sandbox.url, SANDBOX_TOKEN, SANDBOX_GLOBAL_KEY, policy=RetryPolicy(sleep=lambda s: None)
    )
    sandbox.fail_next({"status": 502})

    client.send_text("5511999999999", "hi")
    client.send_text("5511900000000", "hi")  # not on WhatsApp

    assert count("ok") - before["ok"] == 1
    assert count("transient") - before["transient"] == 1
    assert count("permanent") - before["permanent"] == 1

"""Hostile requests against a real gunicorn server: each gets its 4xx, nothing is stored.

One server serves the whole module (starting gunicorn per case would dominate the
run); every test ends by checking that the server is still up, still accepts a
valid event, and never answered a 5xx.
"""

import hashlib
import hmac
import http.client
import json
import time
from urllib.parse import quote

import pytest

from tests.support.processes import assert_unharmed
from tests.support.signing import SECRET, sign, signature_headers, webhook_path
from triggers.models import Trigger, TriggerExecution

ONE_MIB = 1024 * 1024


@pytest.fixture
def server(module_server, transactional_db):
    yield module_server
    assert_unharmed(module_server)


@pytest.fixture
def trigger(transactional_db) -> Trigger:
    return Trigger.objects.create(
        name="Abused", slug="abused", source="custom", secret=SECRET, action_payload={"script": "x.sh"}
    )


def send(server, method: str, path: str, body: bytes = b"", headers=(), *, length: bool = True):
    """Return (status, JSON answer or None) for one raw HTTP request.

    `headers` is a list of pairs, so one header can be sent twice; Content-Length is
    added unless `length` is false or the caller sends its own.
    """
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        names = {name.lower() for name, _ in headers}
        if length and "content-length" not in names and "transfer-encoding" not in names:
            conn.putheader("Content-Length", str(len(body)))
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders(body or None)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, None


def post(server, trigger, body: bytes, headers=None, content_type="application/json"):
    all_headers = [("Content-Type", content_type)] if content_type else []
    all_headers += headers if headers is not None else [("X-Webhook-Signature", sign(body))]
    return send(server, "POST", webhook_path(trigger), body, all_headers)


def assert_still_serving(server, trigger) -> None:
    body = json.dumps({"id": f"still-up-{time.monotonic_ns()}"}).encode()
    assert post(server, trigger, body)[0] == 202


def nested(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


@pytest.mark.parametrize(
    ("name", "body", "status", "message_part"),
    [
        ("0 bytes", b"", 400, "empty"),
        ("whitespace only", b" \r\n\t ", 400, "empty"),
        ("1 MiB + 1", b'{"pad": "' + b"x" * (ONE_MIB - 10) + b'"}', 413, "1048576"),
        ("10,000 levels of objects", nested(10_000), 400, "nested"),
        ("10,000 levels of arrays", b'{"a":' + b"[" * 10_000 + b"]" * 10_000 + b"}", 400, "nested"),
        ("a huge array at the top", b"[" + b"0," * 400_000 + b"0]", 400, "JSON object"),
        ("a huge array over the limit", b'{"a": [' + b"0," * 600_000 + b"0]}", 413, "1048576"),
        ("invalid UTF-8", b'{"text": "caf\xe9"}', 400, "UTF-8"),
        ("a lone surrogate escape", b'{"text": "\\ud800"}', 400, "surrogates"),
        ("a lone surrogate in a key", b'{"\\udfff": 1}', 400, "surrogates"),
        ("duplicate keys", b'{"id": "a", "id": "b"}', 400, 'key "id" more than once'),
        ("nested duplicate keys", b'{"data": {"x": 1, "x": 1}}', 400, 'key "x" more than once'),
        ("a NUL character", b'{"text": "\\u0000"}', 400, "NUL"),
        ("NaN", b'{"n": NaN}', 400, "NaN"),
        ("truncated JSON", b'{"text": "unterminated', 400, "not valid JSON"),
        ("a JSON string", b'"hello"', 400, "JSON object"),
    ],
)
def test_it_refuses_bodies_it_cannot_store_without_creating_rows(
    server, trigger, name, body, status, message_part
):
    answer_status, answer = post(server, trigger, body)

    assert answer_status == status, name
    assert message_part in answer["message"], name
    assert not TriggerExecution.objects.exists(), name
    assert_still_serving(server, trigger)


def test_it_accepts_a_large_array_inside_an_object_within_the_limit(server, trigger):
    body = json.dumps({"id": "big", "items": list(range(100_000))}).encode()
    assert len(body) < ONE_MIB

    assert post(server, trigger, body)[0] == 202
    assert TriggerExecution.objects.get().event_data["data"]["items"][-1] == 99_999


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "jsonx"],
)
def test_it_refuses_wrong_content_types(server, trigger, content_type):
    body = b'{"id": "typed"}'

    status, answer = post(server, trigger, body, content_type=content_type)

    assert status == 415
    assert "application/json" in answer["message"]
    assert not TriggerExecution.objects.exists()
    assert_still_serving(server, trigger)


@pytest.mark.parametrize("accept", ["", "text/plain", "application/xml", "text/html", "garbage;;;"])
def test_it_accepts_an_event_whatever_the_accept_header_says(server, trigger, accept):
    body = b'{"idempotency_key": "accept-any"}'
    headers = [("X-Webhook-Signature", sign(body)), ("Accept", accept)]

    status, answer = post(server, trigger, body, headers=headers)

    assert status == 202
    assert answer["status"] == "accepted"


def test_it_refuses_a_chunked_body_without_a_content_length(server, trigger):
    body = b'{"id": "chunked"}'
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    headers = [("Transfer-Encoding", "chunked"), ("X-Webhook-Signature", sign(body))]

    status, answer = post(server, trigger, chunked, headers=headers)

    assert status == 411
    assert "Content-Length" in answer["message"]
    assert not TriggerExecution.objects.exists()
    assert_still_serving(server, trigger)


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("no signature", []),
        ("an empty signature", [("X-Webhook-Signature", "")]),
        ("a signature that is not hex", [("X-Webhook-Signature", "zz" * 32)]),
        ("a non-ASCII signature", [("X-Webhook-Signature", "é" * 64)]),
        ("a good and a bad signature", [("X-Webhook-Signature", "GOOD"), ("X-Webhook-Signature", "0" * 64)]),
        ("the good signature twice", [("X-Webhook-Signature", "GOOD"), ("X-Webhook-Signature", "GOOD")]),
        ("a bearer token that is not the secret", [("Authorization", "Bearer not-the-secret")]),
        ("an empty bearer token", [("Authorization", "Bearer ")]),
    ],
)
def test_it_refuses_missing_malformed_and_repeated_signature_headers(server, trigger, case, headers):
    body = b'{"id": "signed"}'
    headers = [(name, sign(body) if value == "GOOD" else value) for name, value in headers]

    status, answer = post(server, trigger, body, headers=headers)

    assert status == 401, case
    assert answer["error"] == "unauthorized", case
    assert not TriggerExecution.objects.exists()
    assert_still_serving(server, trigger)


def standard_webhooks_headers(body: bytes, at: float) -> list[tuple[str, str]]:
    return list(signature_headers("standard", body, at=at).items())


@pytest.mark.parametrize("source", ["stripe", "standard"])
# Ten seconds past the 300 s tolerance each way: timestamps are whole seconds and the request
# takes time, so 301 s could arrive as exactly 300 (the exact edge is property-tested, with a
# fixed clock, in scenarios/test_properties.py).
@pytest.mark.parametrize("age", [310, -310, 86_400])
def test_it_refuses_replayed_signatures_outside_the_tolerance(server, trigger, source, age):
    if source == "stripe":
        trigger = Trigger.objects.create(name="Stripe", slug="stripe", source="stripe", secret=SECRET)
    body = b'{"id": "evt_replayed"}'
    headers = list(signature_headers(source, body, at=time.time() - age).items())

    status, answer = post(server, trigger, body, headers=headers)

    assert status == 401
    assert "tolerance" in answer["message"]
    assert not TriggerExecution.objects.exists()
    fresh = list(signature_headers(source, body).items())
    assert post(server, trigger, body, headers=fresh)[0] == 202


def test_it_refuses_a_stripe_header_carrying_two_timestamps(server):
    trigger = Trigger.objects.create(name="Stripe", slug="stripe", source="stripe", secret=SECRET)
    body = b'{"id": "evt_two_t"}'
    now = int(time.time())
    good = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    header = f"t={now - 10_000},t={now},v1={good}"

    status, _ = post(server, trigger, body, headers=[("Stripe-Signature", header)])

    assert status == 401
    assert not TriggerExecution.objects.exists()


def test_it_refuses_another_triggers_valid_signature(server, trigger):
    other = Trigger.objects.create(name="Other", slug="other", secret="another-secret-of-32-characters!")
    body = b'{"id": "cross"}'

    status, _ = post(server, trigger, body, headers=[("X-Webhook-Signature", sign(body, other.secret))])

    assert status == 401
    assert post(server, other, body, headers=[("X-Webhook-Signature", sign(body, other.secret))])[0] == 202
    assert list(TriggerExecution.objects.values_list("trigger", flat=True)) == [other.pk]


@pytest.mark.parametrize(
    "public_id",
    [
        "6f1c2d3e-0000-4000-8000-000000000000",
        "not-a-uuid",
        "%00",
        "%ff%fe",
        "..%2f..%2fadmin",
        "' OR 1=1 --",
        "x" * 1000,
        "\uff16f1c2d3e-0000-4000-8000-000000000000",  # a fullwidth digit six
        "{6f1c2d3e-0000-4000-8000-000000000000}x",
    ],
)
def test_it_answers_404_for_unknown_and_malformed_public_ids(server, trigger, public_id):
    body = b'{"id": "lost"}'
    path = "/api/triggers/" + quote(public_id, safe="%") + "/webhook"

    status, answer = send(server, "POST", path, body, [("Content-Type", "application/json")])

    assert status == 404
    assert answer["error"] == "not_found"
    assert not TriggerExecution.objects.exists()


def test_it_answers_414_for_a_url_longer_than_the_server_reads(server, trigger):
    status, _ = send(server, "POST", "/api/triggers/" + "x" * 5000 + "/webhook", b"{}")

    assert status == 414
    assert_still_serving(server, trigger)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW"])
def test_it_answers_405_for_methods_other_than_post(server, trigger, method):
    body = b'{"id": "wrong-method"}'
    headers = [("Content-Type", "application/json"), ("X-Webhook-Signature", sign(body))]

    status, _ = send(server, method, webhook_path(trigger), body, headers)

    assert status == 405
    assert not TriggerExecution.objects.exists()
    assert_still_serving(server, trigger)


def test_it_answers_400_for_a_malformed_content_length(server, trigger):
    body = b'{"id": "length"}'
    headers = [("Content-Type", "application/json"), ("Content-Length", "-1")]

    status, _ = send(server, "POST", webhook_path(trigger), body, headers)

    assert 400 <= status < 500
    assert not TriggerExecution.objects.exists()
    assert_still_serving(server, trigger)

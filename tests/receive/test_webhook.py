"""Bad input gets a clear 4xx with a message, and never creates a row."""

import json

import pytest

from tests.support.signing import sign, webhook_path
from triggers.models import TriggerExecution


def post_raw(client, path, body: bytes, content_type="application/json", signed=True):
    headers = {"X-Webhook-Signature": sign(body)} if signed else {}
    # CONTENT_TYPE in the environ too: the test client drops it for an empty body.
    return client.post(path, data=body, content_type=content_type, headers=headers, CONTENT_TYPE=content_type)


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"[1, 2, 3]", "JSON object"),
        (b'"just a string"', "JSON object"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"amount": NaN}', "NaN"),
        (b'{"text": "a\\u0000b"}', "NUL"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, "nested"),
        (b"[" * 10_000 + b"]" * 10_000, "nested"),
    ],
)
def test_it_answers_400_with_a_message_for_bodies_it_cannot_store(client, make_trigger, body, message_part):
    trigger = make_trigger()

    response = post_raw(client, webhook_path(trigger), body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_payload"
    assert message_part in response.json()["message"]
    assert not TriggerExecution.objects.exists()


def test_it_answers_413_for_a_body_over_the_limit(client, make_trigger):
    trigger = make_trigger()
    body = json.dumps({"blob": "x" * (2 * 1024 * 1024)}).encode()

    response = post_raw(client, webhook_path(trigger), body)

    assert response.status_code == 413
    assert "1048576" in response.json()["message"]
    assert not TriggerExecution.objects.exists()


def test_it_accepts_a_body_at_the_configured_limit(client, make_trigger, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 200
    trigger = make_trigger()
    body = json.dumps({"pad": "x" * 189}).encode()
    assert len(body) == 200

    assert post_raw(client, webhook_path(trigger), body).status_code == 202
    assert post_raw(client, webhook_path(trigger), body + b" ").status_code == 413


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_it_answers_415_for_a_wrong_content_type(client, make_trigger, content_type):
    trigger = make_trigger()

    response = post_raw(client, webhook_path(trigger), b'{"a": 1}', content_type=content_type)

    assert response.status_code == 415
    assert "application/json" in response.json()["message"]
    assert not TriggerExecution.objects.exists()


def test_it_accepts_json_with_a_charset_and_vendor_json_types(client, make_trigger):
    trigger = make_trigger()

    for n, content_type in enumerate(["application/json; charset=utf-8", "application/vnd.api+json"]):
        body = b'{"a": %d}' % n  # two events: a signed body is its own key
        assert post_raw(client, webhook_path(trigger), body, content_type=content_type).status_code == 202


@pytest.mark.parametrize(
    "path",
    [
        "/api/triggers/6f1c2d3e-0000-4000-8000-000000000000/webhook",
        "/api/triggers/not-a-uuid/webhook",
        "/api/triggers/%00/webhook",
    ],
)
def test_it_answers_404_as_json_for_an_unknown_trigger(client, db, path):
    response = post_raw(client, path, b'{"a": 1}')

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_it_answers_405_for_methods_other_than_post(client, make_trigger, method):
    trigger = make_trigger()

    response = getattr(client, method)(webhook_path(trigger))

    assert response.status_code == 405


def test_it_accepts_the_webhook_url_with_a_trailing_slash(client, make_trigger):
    trigger = make_trigger()

    assert post_raw(client, webhook_path(trigger) + "/", b'{"a": 1}').status_code == 202


def test_it_answers_json_404_for_unknown_api_paths(client, db):
    response = client.get("/api/no-such-endpoint/")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_it_keeps_the_html_404_page_outside_the_api(client, db):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")

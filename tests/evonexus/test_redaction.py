"""Which names hold credentials, in every spelling, and JSON inside strings."""

import json

import pytest

from evonexus.redaction import REDACTED, is_secret_name, redact_secrets


@pytest.mark.parametrize(
    "name",
    [
        "instanceToken",
        "api-key",
        "X-Api-Key",
        "api:key",
        "API_KEY",
        "private_key",
        "privateKey",
        "passphrase",
        "credentials",
        "pwd",
        "cookie",
        "Set-Cookie",
        "auth",
        "basic_auth",
        "Authorization",
        "\uff54\uff4f\uff4b\uff45\uff4e",  # full-width "token"
        "to\u200bken",  # a zero-width space inside
        "pass\u2060word",  # a word joiner inside
    ],
)
def test_every_spelling_of_a_credential_name_is_secret(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["author", "authority", "text", "push_name", "message_id", "keyId"])
def test_ordinary_names_are_not(name):
    assert not is_secret_name(name)


def test_a_json_object_inside_a_string_is_redacted_inside():
    proxy = json.dumps({"host": "proxy.internal", "port": "3128", "username": "u", "password": "hunter2"})

    redacted = redact_secrets({"data": {"proxy": proxy, "note": "{not json"}})

    assert json.loads(redacted["data"]["proxy"]) == {
        "host": "proxy.internal",
        "port": "3128",
        "username": "u",
        "password": REDACTED,
    }
    assert redacted["data"]["note"] == "{not json"

"""GitHub's record: its signature, its event shape, its unsigned delivery id."""

import json

import pytest

from tests.support.signing import SECRET, signature_headers
from triggers.sources import github
from triggers.sources.base import MESSAGE, SIGNED_BODY, AuthenticationFailed, lower_case_headers

BODY = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "o/r"}, "sender": {"login": "me"}})


def headers(**extra) -> dict:
    return lower_case_headers({**signature_headers("github", BODY.encode()), **extra})


def test_a_body_signed_with_the_secret_proves_the_body():
    assert github.verify(secrets=[SECRET], headers=headers(), body=BODY.encode()) == SIGNED_BODY


def test_a_changed_body_or_a_missing_signature_is_refused():
    with pytest.raises(AuthenticationFailed, match="does not match"):
        github.verify(secrets=[SECRET], headers=headers(), body=BODY.encode() + b" ")
    with pytest.raises(AuthenticationFailed, match="missing"):
        github.verify(secrets=[SECRET], headers={}, body=BODY.encode())


def test_a_push_is_parsed_into_repository_branch_and_sender():
    event = github.parse(headers(**{"X-GitHub-Event": "push"}), json.loads(BODY))

    assert (event["event_type"], event["repository"], event["branch"], event["sender"]) == (
        "push", "o/r", "main", "me"
    )


def test_its_delivery_id_is_an_unsigned_header():
    assert github.native_keys(headers(**{"X-GitHub-Delivery": "d-1"}), {}) == [("x-github-delivery", "d-1")]


def test_every_github_event_is_a_message_with_a_small_body():
    assert github.SENDER.kind({}) == MESSAGE
    assert github.SENDER.max_body_setting == "WEBHOOK_MAX_BODY_BYTES"
    assert github.SENDER.file_path is None

"""Every evt= line is key=value by default, or one JSON object per line with LOG_FORMAT=json."""

import json
import subprocess
import sys

import pytest

from evonexus.logs import format_event
from tests.support.processes import ROOT, process_env

pytestmark = pytest.mark.process  # every test here starts a process

EMIT = (
    "import django, logging; django.setup(); from evonexus.logs import log_event; "
    "log_event(logging.getLogger('evonexus.webhook'), 'trigger_webhook', trigger_id=7, "
    "outcome='accepted', reason='two words', name='shadows a LogRecord attribute')"
)


def emitted(**env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", EMIT],
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.strip()


def test_the_default_is_key_value():
    line = emitted()

    assert line.endswith(
        'INFO evonexus.webhook evt=trigger_webhook trigger_id=7 outcome=accepted reason="two words" '
        'name="shadows a LogRecord attribute"'
    )


def test_log_format_json_writes_one_object_per_line_with_the_fields_on_top():
    record = json.loads(emitted(LOG_FORMAT="json"))

    assert record["evt"] == "trigger_webhook"
    assert (record["trigger_id"], record["outcome"], record["reason"]) == (7, "accepted", "two words")
    assert record["field_name"] == "shadows a LogRecord attribute"
    assert (record["level"], record["logger"]) == ("INFO", "evonexus.webhook")
    assert "time" in record


def test_an_unknown_log_format_fails_loudly():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=process_env(LOG_FORMAT="xml"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "LOG_FORMAT must be keyvalue or json" in result.stderr


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\rb", '"a\\rb"'),
        ("a\u2028b", '"a\\u2028b"'),
        ("a\u2029b", '"a\\u2029b"'),
        ("\x1b[31mred", '"\\u001b[31mred"'),
        ("a\x85b", '"a\\u0085b"'),
        ("a\nevt=forged", '"a\\nevt=forged"'),
    ],
)
def test_control_characters_in_a_value_are_escaped_so_no_line_can_be_forged(raw, shown):
    line = format_event("idempotent_replay", idem_key=raw)

    assert line == f"evt=idempotent_replay idem_key={shown}"
    assert line.isprintable()

"""`manage.py evolution` prints JSON and exits 0 or 1; `evolution_sandbox` serves the real shapes."""

import json
import subprocess
import sys

import pytest
import requests

from tests.support.processes import ROOT, free_port, process_env, wait_until_serving
from tests.support.sandbox import SANDBOX_GLOBAL_KEY, SANDBOX_TOKEN

# Every test here starts a process, on the test database: it finds its instance there.
pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def evolution(*args: str, url: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = process_env(
        EVOLUTION_GO_URL=url, EVOLUTION_GO_INSTANCE_TOKEN=SANDBOX_TOKEN, EVOLUTION_GO_KEY=SANDBOX_GLOBAL_KEY
    )
    return subprocess.run(
        [sys.executable, "manage.py", "evolution", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_send_text_against_the_sandbox_prints_the_json_result_and_exits_0(sandbox):
    result = evolution(
        "send_text", "--number", "5511999999999", "--text", "hello from the CLI", url=sandbox.url
    )

    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["ok"] is True
    assert output["attempts"] == 1
    assert output["message_id"] == sandbox.messages()[0]["id"]
    assert sandbox.messages()[0]["body"]["text"] == "hello from the CLI"


def test_send_text_against_a_stopped_gateway_exits_1_with_json_and_retry_logs_on_stderr_only():
    stopped = f"http://127.0.0.1:{free_port()}"

    result = evolution("send_text", "--number", "5511999999999", "--text", "hi", url=stopped)

    assert result.returncode == 1
    output = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert (output["ok"], output["category"], output["attempts"]) == (False, "transient", 3)
    assert "ConnectionError" in output["error"]
    assert result.stderr.count("evt=whatsapp_send_attempt") == 3
    assert "evt=whatsapp_send " in result.stderr


def test_an_invalid_number_exits_1_before_any_request(sandbox):
    result = evolution("send_text", "--number", "not-a-number", "--text", "hi", url=sandbox.url)

    assert result.returncode == 1
    assert "invalid number" in json.loads(result.stdout)["error"]
    assert sandbox.attempts() == []


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (["status"], lambda out: out["data"]["Connected"] is True),
        (["instances"], lambda out: out["data"][0]["name"] == "sandbox"),
        (["summary"], lambda out: out["status"]["ok"] and out["instances"]["ok"]),
        (
            [
                "send_poll",
                "--number",
                "5511999999999",
                "--question",
                "Lunch?",
                "--option",
                "yes",
                "--option",
                "no",
            ],
            lambda out: out["ok"],
        ),
        (
            [
                "send_location",
                "--number",
                "5511999999999",
                "--latitude",
                "-23.5",
                "--longitude",
                "-46.6",
                "--name",
                "Sé",
                "--address",
                "Praça da Sé",
            ],
            lambda out: out["ok"],
        ),
    ],
    ids=["status", "instances", "summary", "send_poll", "send_location"],
)
def test_commands_print_the_gateways_answer(sandbox, args, check):
    result = evolution(*args, url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert check(json.loads(result.stdout))


def test_connect_with_no_url_to_give_is_refused_before_any_request(sandbox):
    # No --webhook-url, and no public URL to find its trigger's: the server's stored one stays.
    result = evolution("connect", "--webhook-url", "", url=sandbox.url)

    assert result.returncode == 1
    assert "PUBLIC_BASE_URL" in json.loads(result.stdout)["error"]
    assert sandbox.attempts() == []


def test_the_sandbox_command_serves_sends_and_lists_what_it_received():
    port = free_port()
    command = [
        sys.executable,
        "manage.py",
        "evolution_sandbox",
        "--port",
        str(port),
        "--instance-token",
        SANDBOX_TOKEN,
        "--global-key",
        SANDBOX_GLOBAL_KEY,
        "--not-registered",
        "5511900000000",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=process_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/_sandbox/messages", process)

        sent = evolution("send_text", "--number", "5511999999999", "--text", "via the command", url=url)
        refused = evolution("send_text", "--number", "5511900000000", "--text", "nobody", url=url)

        assert sent.returncode == 0
        assert refused.returncode == 1
        assert json.loads(refused.stdout)["category"] == "permanent"
        messages = requests.get(f"{url}/_sandbox/messages", timeout=5).json()["messages"]
        assert [m["body"]["text"] for m in messages] == ["via the command"]
        assert messages[0]["id"] == json.loads(sent.stdout)["message_id"]
    finally:
        process.terminate()
        process.wait(timeout=10)

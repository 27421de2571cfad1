"""Benchmark: two WhatsApp numbers under the same steady load, one of them down for 2 minutes.

    .venv/bin/python bench/instances.py      # about 8 minutes; SQLite, no other service

One stack (gunicorn, one db_worker, the sandbox in this process serving two
instances, `a` and `b`, on one server). Each number receives `RATE` messages a
second, and each message is answered from its own number. For `UP_SECONDS` both
are up; then `b`'s phone goes offline for `DOWN_SECONDS` (the sandbox posts
`Disconnected`; a send to it fails `client disconnected` after `DOWN_DELAY_S`, as
Evolution Go's own reconnect attempts make it wait), then comes back (`Connected`).

Two episodes: the outage announced (the server posts `Disconnected`, as it does
when it notices) and silent (no event: the breaker learns from a failed send).
Printed for each, against the targets of issue 25: `a`'s end-to-end p50 (the message
written to `a`, until `a`'s answer reached the server) while `b` is down, against
its p50 with both up (at most 1.2x); the worker's time spent on sends to `b`
that found it down, against the outage (under 10%); and whether every message
of both numbers was answered once, from its own number. Writes
bench/results/instances.json.
"""

import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    django_shell,
    report_verdicts,
    run_in_django,
    sqlite_stack,
    start_server,
)

PORT = 8935
TOKENS = {"a": "bench-number-a-token-0123", "b": "bench-number-b-token-0123"}
SANDBOX_NAMES = {"a": "sandbox", "b": "number-b"}  # the instances' names on the server
RATE = 1.0  # messages a second, to each number
UP_SECONDS = 60
DOWN_SECONDS = 120
DOWN_DELAY_S = 1.0


def episode(silent: bool) -> dict:
    """Return the figures of one outage of `b`: announced by a `Disconnected` event, or `silent`."""
    import requests

    from whatsapp.sandbox import SandboxServer, SandboxState

    state = SandboxState(instance_token=TOKENS["a"], global_key="bench", instances={"number-b": TOKENS["b"]})
    sandbox = SandboxServer("127.0.0.1", 0, state)
    sandbox.start_in_thread()
    env = sqlite_stack("evonexus-bench-instances-", EVOLUTION_GO_URL=sandbox.url)
    make = "; ".join(
        f"print(Trigger.objects.create(name='{name}', slug='{name}', source='whatsapp', secret='{token}', "
        f"event_filter={{'event_type': 'Message'}}, action_type='whatsapp', "
        f"action_payload={{'message': '{name} says {{{{ text }}}}'}}).public_id)"
        for name, token in TOKENS.items()
    )
    public_ids = django_shell(env, f"from triggers.models import Trigger; {make}").split()
    server = start_server(PORT, env=env, workers=1, threads=4)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.1"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    for (name, token), public_id in zip(TOKENS.items(), public_ids, strict=True):
        webhook = f"http://127.0.0.1:{PORT}/api/triggers/{public_id}/webhook"
        answer = requests.post(
            f"{sandbox.url}/instance/connect",
            json={"webhookUrl": webhook, "subscribe": ["MESSAGE", "CONNECTION"]},
            headers={"apikey": token},
            timeout=10,
        )
        assert answer.ok, (name, answer.text)

    written: dict[str, float] = {}  # text -> when it was written to its number
    phase = {"name": "up"}
    phases: dict[str, str] = {}
    stop = threading.Event()

    def load(name: str) -> None:
        n = 0
        while not stop.is_set():
            text = f"{name}-{n:05d}"
            written[text], phases[text] = time.time(), phase["name"]
            requests.post(
                f"{sandbox.url}/_sandbox/incoming",
                json={"instance": SANDBOX_NAMES[name], "from": "5511977776666", "text": text},
                timeout=10,
            )
            n += 1
            stop.wait(1 / RATE)

    threads = [threading.Thread(target=load, args=(name,), daemon=True) for name in TOKENS]
    try:
        for thread in threads:
            thread.start()
        time.sleep(UP_SECONDS)
        state.disconnected_latency_ms = int(DOWN_DELAY_S * 1000)
        phase["name"] = "b down"
        outage_started = time.time()
        set_b = f"{sandbox.url}/_sandbox/state"
        requests.post(set_b, json={"instance": "number-b", "connected": False, "silent": silent}, timeout=10)
        time.sleep(DOWN_SECONDS)
        phase["name"] = "after"
        requests.post(set_b, json={"instance": "number-b", "connected": True}, timeout=10)
        outage_seconds = time.time() - outage_started
        stop.set()
        for thread in threads:
            thread.join()
        deadline = time.time() + 180
        while time.time() < deadline and len(state.messages) < len(written):
            time.sleep(1)
        time.sleep(2)
    finally:
        stop.set()
        worker.terminate()
        worker.wait()
        server.terminate()
        server.wait()
        sandbox.shutdown()

    answered: dict[str, list[dict]] = {}
    for message in state.messages:
        text = message["body"]["text"].split(" says ", 1)[-1]
        answered.setdefault(text, []).append(message)

    def p50(name: str, during: str) -> float:
        latencies = [
            answered[text][0]["received_at"] - at
            for text, at in written.items()
            if text.startswith(name) and phases[text] == during and text in answered
        ]
        return round(statistics.median(latencies) * 1000, 1) if latencies else float("nan")

    # A send that found `b` down held the worker from its first attempt's start to its
    # last attempt's answer (each answer came DOWN_DELAY_S after its attempt began).
    down: dict[str, list[float]] = {}
    for attempt in state.requests:
        if attempt.get("instance") == "number-b" and not attempt["connected"]:
            down.setdefault(attempt["id"], []).append(attempt["at"])
    seconds_on_down = sum(max(times) - min(times) + DOWN_DELAY_S for times in down.values())
    once_from_own = all(
        len(messages) == 1 and messages[0]["instance"] == SANDBOX_NAMES[text.split("-")[0]]
        for text, messages in answered.items()
    )
    results = {
        "rate_per_number": RATE,
        "a_p50_ms_both_up": p50("a", "up"),
        "a_p50_ms_b_down": p50("a", "b down"),
        "b_p50_ms_both_up": p50("b", "up"),
        "outage_seconds": round(outage_seconds, 1),
        "worker_seconds_on_b_down_sends": round(seconds_on_down, 1),
        "b_sends_that_found_it_down": len(down),
        "written": len(written),
        "answered": len(answered),
        "answered_once_from_own_number": once_from_own,
    }
    return results


def main() -> None:
    started_run = time.time()
    results = {
        "announced (Disconnected posted)": episode(silent=False),
        "silent (no event)": episode(silent=True),
    }
    print(f"\ntwo numbers, {RATE:g} message/s each; b down {DOWN_SECONDS} s (each down send fails after "
          f"{DOWN_DELAY_S:g} s)\n")
    names = list(results)
    print(f"  {'':<34}" + "".join(f"{name:>34}" for name in names))
    for key in results[names[0]]:
        print(f"  {key:<34}" + "".join(f"{results[name][key]!s:>34}" for name in names))
    print()
    verdicts = {}
    for name, r in results.items():
        ratio = r["a_p50_ms_b_down"] / r["a_p50_ms_both_up"]
        share = r["worker_seconds_on_b_down_sends"] / r["outage_seconds"]
        verdicts[f"{name}: a's p50 while b is down <= 1.2x both up"] = (ratio <= 1.2, f"{ratio:.2f}x")
        verdicts[f"{name}: worker time on b's down sends < 10% of the outage"] = (share < 0.1, f"{share:.1%}")
        verdicts[f"{name}: every message answered once, from its own number"] = (
            r["answered_once_from_own_number"] and r["answered"] == r["written"],
            f"{r['answered']}/{r['written']}",
        )
    report_verdicts(verdicts, results, "instances", started_run)


if __name__ == "__main__":
    run_in_django(main)

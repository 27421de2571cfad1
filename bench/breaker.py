"""Benchmark: the WhatsApp instance is down for 2 minutes while 50 events arrive.

    .venv/bin/python bench/breaker.py        # about 6 minutes; SQLite, no other service

Run twice on the same stack (gunicorn, one db_worker, the sandbox in this
process): with the gateway breaker off (`GATEWAY_BREAKER_FAILURES=0`, how it
was before) and on (the default). The sandbox answers every send
`500 client disconnected` for the 2 minutes, after `DOWN_DELAY_S` (Evolution Go
itself waits 36-48 s; scaled down here, the ratio is what counts), then comes
back and posts `Connected`. Printed: the worker's seconds spent on sends that
found the gateway down (the executions' own durations), what ended in the
dead-letter queue, and whether all 50 reached WhatsApp exactly once and in
order without an operator. Writes bench/results/breaker.json.
"""

import json
import subprocess
import sys
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

PORT = 8934
TOKEN = "bench-breaker-instance-token-0123"
EVENTS = 50
DOWN_SECONDS = 120
DOWN_DELAY_S = 1.0


def run(breaker_failures: int) -> dict:
    """Return the figures of one disconnected episode with `GATEWAY_BREAKER_FAILURES` set as given."""
    import requests

    from whatsapp.sandbox import SandboxServer, SandboxState

    state = SandboxState(instance_token=TOKEN, global_key="bench")
    sandbox = SandboxServer("127.0.0.1", 0, state)
    sandbox.start_in_thread()
    env = sqlite_stack(
        "evonexus-bench-breaker-",
        EVOLUTION_GO_URL=sandbox.url,
        EVOLUTION_GO_INSTANCE_TOKEN=TOKEN,
        GATEWAY_BREAKER_FAILURES=str(breaker_failures),
    )
    manage = [sys.executable, "manage.py"]
    public_id = django_shell(
        env,
        "from triggers.models import Trigger; print(Trigger.objects.create(name='b', slug='b', "
        f"source='whatsapp', secret='{TOKEN}', event_filter={{'event_type': 'Message'}}, "
        "action_type='whatsapp', action_payload={'message': 'order {{ text }}'}).public_id)",
    )
    server = start_server(PORT, env=env, workers=1, threads=4)
    worker = subprocess.Popen(
        [*manage, "db_worker", "--no-reload", "--interval", "0.1"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    webhook = f"http://127.0.0.1:{PORT}/api/triggers/{public_id}/webhook"
    requests.post(
        f"{sandbox.url}/instance/connect",
        json={"webhookUrl": webhook, "subscribe": ["MESSAGE", "CONNECTION"]},
        headers={"apikey": TOKEN},
        timeout=10,
    )
    try:
        state.latency_ms = int(DOWN_DELAY_S * 1000)
        requests.post(f"{sandbox.url}/_sandbox/state", json={"connected": False}, timeout=10)
        started = time.monotonic()
        for n in range(EVENTS):  # spread over the first 100 s of the episode
            requests.post(
                f"{sandbox.url}/_sandbox/incoming",
                json={"from": "5511977776666", "text": f"{n:02d}"},
                timeout=10,
            )
            time.sleep(100 / EVENTS)
        time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - started)))
        state.latency_ms = 0
        requests.post(f"{sandbox.url}/_sandbox/state", json={"connected": True}, timeout=10)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(state.messages) < EVENTS and _pending(env):
            time.sleep(1)
        time.sleep(2)
        figures = _figures(env)
    finally:
        worker.terminate()
        worker.wait()
        server.terminate()
        server.wait()
        sandbox.shutdown()
    texts = [m["body"]["text"] for m in state.messages]
    # A send that found the instance down held the worker from its first attempt's start
    # to its last attempt's answer (the retries' sleeps included).
    down: dict[str, list[float]] = {}
    for attempt in state.requests:
        if not attempt["connected"]:
            down.setdefault(attempt["id"], []).append(attempt["at"])
    figures["seconds_on_down_sends"] = round(
        sum(max(times) - min(times) + 2 * DOWN_DELAY_S for times in down.values()), 1
    )
    figures["sends_that_found_it_down"] = len(down)
    figures.update(
        delivered=len(texts),
        delivered_once=len(set(texts)) == len(texts),
        in_order=texts == sorted(texts),
        all_delivered=sorted(texts) == [f"order {n:02d}" for n in range(EVENTS)],
    )
    return figures


def _pending(env: dict) -> bool:
    code = (
        "from triggers.models import TriggerExecution as E; "
        "print(E.objects.filter(status__in=['pending', 'running', 'held']).exists())"
    )
    return django_shell(env, code) == "True"


def _figures(env: dict) -> dict:
    code = (
        "import json; from triggers.models import TriggerExecution as E; "
        "print(json.dumps({'dead_letter': E.objects.dead_letter().count(), "
        "'completed': E.objects.filter(status='completed').count()}))"
    )
    return json.loads(django_shell(env, code))


def main() -> None:
    started = time.time()
    results = {"before (breaker off)": run(0), "breaker on": run(3)}
    before, after = results["before (breaker off)"], results["breaker on"]
    ratio = (
        after["seconds_on_down_sends"] / before["seconds_on_down_sends"]
        if before["seconds_on_down_sends"]
        else 0
    )
    delay = f"each down answer after {DOWN_DELAY_S:g} s"
    print(f"\n{EVENTS} events while the instance is down {DOWN_SECONDS} s ({delay})\n")
    print(
        f"{'run':<22}{'s on down sends':>17}{'dead-letter':>13}{'delivered':>11}{'once':>6}{'in order':>10}"
    )
    for name, r in results.items():
        print(
            f"{name:<22}{r['seconds_on_down_sends']:>17.1f}{r['dead_letter']:>13}{r['delivered']:>11}"
            f"{r['delivered_once']!s:>6}{r['in_order']!s:>10}"
        )
    print()
    verdicts = {
        "worker time on down sends < 10% of before": (ratio < 0.1, f"{ratio:.1%}"),
        "all delivered once, in order, no operator": (
            after["all_delivered"]
            and after["delivered_once"]
            and after["in_order"]
            and after["dead_letter"] == 0,
            f"{after['delivered']}/{EVENTS}, dead-letter {after['dead_letter']}",
        ),
    }
    report_verdicts(verdicts, results, "breaker", started)


if __name__ == "__main__":
    run_in_django(main)

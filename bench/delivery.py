"""Delivery benchmark: webhook accepted → message at the gateway sandbox, with 1, 2 and 4 workers.

    .venv/bin/python bench/delivery.py       # about 2 minutes; needs PostgreSQL and Redis

For each backend (the database queue, Redis/RQ) and worker count: light load
(one event every 200 ms: end-to-end latency) and a burst (events posted as
fast as 8 clients can: sends per second). Prints a table, writes
bench/results/delivery.json.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, start_server  # noqa: E402

BENCH_DB = "evonexus_bench_delivery"
PORT = 8932
URL = f"http://127.0.0.1:{PORT}"
TOKEN = "bench-sandbox-instance-token"
BURST = int(os.environ.get("BENCH_BURST", "200"))
LIGHT = int(os.environ.get("BENCH_LIGHT", "25"))

os.environ.update(
    DJANGO_SETTINGS_MODULE="evonexus.settings",
    DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
    SECRET_KEY="bench-secret-key-not-for-production-0123456789",
    REDIS_URL="redis://127.0.0.1:6379/14",
)


def worker_command(backend: str) -> list[str]:
    if backend == "rq":
        # SimpleWorker runs jobs in the worker process: no fork and new connection per job.
        return [
            sys.executable,
            "manage.py",
            "rqworker",
            "default",
            "--job-class",
            "django_tasks_rq.Job",
            "--worker-class",
            "rq.worker.SimpleWorker",
        ]
    return [
        sys.executable,
        "manage.py",
        "db_worker",
        "--no-reload",
        "--no-startup-delay",
        "--interval",
        "0.1",
    ]


def post_event(webhook: str, n: int) -> float:
    """Return when the webhook answered 202 for event `n`."""
    body = {
        "event": "Message",
        "instanceToken": TOKEN,
        "data": {
            "Info": {"ID": f"bench-{n}", "Sender": "5511999999999@s.whatsapp.net"},
            "Message": {"conversation": str(n)},
        },
    }
    response = requests.post(URL + webhook, json=body, timeout=30)
    assert response.status_code == 202, response.text
    return time.time()


def wait_for_messages(sandbox, count: int, timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(sandbox.state.messages) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return list(sandbox.state.messages)


def measure(backend: str, workers: int, sandbox, webhook: str) -> dict:
    from triggers.models import TriggerExecution

    sandbox.state.reset()
    TriggerExecution.objects.all().delete()
    env = {
        **os.environ,
        "TASKS_BACKEND": backend,
        "EVOLUTION_GO_URL": sandbox.url,
        "EVOLUTION_GO_INSTANCE_TOKEN": TOKEN,
    }
    processes = [
        subprocess.Popen(
            worker_command(backend), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(workers)
    ]
    try:
        time.sleep(3)  # workers up
        accepted = {}
        for n in range(LIGHT):  # light load
            accepted[str(n)] = post_event(webhook, n)
            time.sleep(0.2)
        latencies = sorted(
            (m["received_at"] - accepted[m["body"]["text"]]) * 1000 for m in wait_for_messages(sandbox, LIGHT)
        )
        sandbox.state.reset()
        started = time.time()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda n: post_event(webhook, n), range(1000, 1000 + BURST)))
        burst = wait_for_messages(sandbox, BURST)
        elapsed = max(m["received_at"] for m in burst) - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
    return {
        "backend": backend,
        "workers": workers,
        "light_p50_ms": round(statistics.median(latencies)),
        "light_p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)]),
        "burst_messages": len(burst),
        "burst_sends_per_s": round(len(burst) / elapsed, 1),
    }


def main() -> None:
    started = time.time()
    fresh_database(BENCH_DB)

    import django

    django.setup()
    import django_rq

    from triggers.models import Trigger
    from whatsapp.sandbox import SandboxServer, SandboxState

    django_rq.get_queue("default").empty()
    sandbox = SandboxServer("127.0.0.1", 0, SandboxState(instance_token=TOKEN, global_key="bench"))
    sandbox.start_in_thread()
    trigger = Trigger.objects.create(
        name="bench",
        slug="bench",
        source="whatsapp",
        secret=TOKEN,
        action_type="whatsapp",
        action_payload={"message": "{{ text }}"},
    )
    webhook = f"/api/triggers/{trigger.public_id}/webhook"
    rows = []
    for backend in ("database", "rq"):
        env = {**os.environ, "TASKS_BACKEND": backend}
        server = start_server(PORT, env)
        try:
            rows += [measure(backend, workers, sandbox, webhook) for workers in (1, 2, 4)]
        finally:
            server.terminate()
            server.wait()
    print(f"\n{'backend':<10}{'workers':>8}{'light p50 ms':>14}{'light p99 ms':>14}{'burst sends/s':>15}")
    for row in rows:
        print(
            f"{row['backend']:<10}{row['workers']:>8}{row['light_p50_ms']:>14}{row['light_p99_ms']:>14}"
            f"{row['burst_sends_per_s']:>15}"
        )
    database = [r for r in rows if r["backend"] == "database"]
    verdicts = {
        "end-to-end p50 < 1 s, database backend, light load": database[0]["light_p50_ms"] < 1000,
        "delivery throughput grows with workers (database)": database[-1]["burst_sends_per_s"]
        > database[0]["burst_sends_per_s"],
        "delivery throughput grows with workers (rq)": rows[-1]["burst_sends_per_s"]
        > rows[3]["burst_sends_per_s"],
    }
    for name, met in verdicts.items():
        print(f"{'MET ' if met else 'MISS'}  {name}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "delivery.json").write_text(json.dumps({"rows": rows, "verdicts": verdicts}, indent=2))
    print(f"\nwrote {out / 'delivery.json'} ({round(time.time() - started)} s)")


if __name__ == "__main__":
    main()

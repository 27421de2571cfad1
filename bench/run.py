"""Benchmarks: print a table with verdicts and write bench/results/latest.json.

    .venv/bin/python bench/run.py            # about 5 minutes on 2 cores

Everything runs on this machine over loopback: PostgreSQL (a fresh database
`evonexus_bench`), gunicorn serving the project (2 workers x 4 threads, as in
production), and wrk as the load generator. Figures are comparable within one
run; the machine is shared, so compare ratios, not absolute numbers.
"""

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "evonexus_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
SECRET = "bench-trigger-secret-0123456789abcdef"
PORT = 8931
URL = f"http://127.0.0.1:{PORT}"
WRK = ["wrk", "--latency", "-t2", "-c16", "-d15s"]
SEEDED_ROWS = int(os.environ.get("BENCH_SEEDED_ROWS", "1000000"))

os.environ.update(
    DJANGO_SETTINGS_MODULE="bench.settings",
    DATABASE_URL=DATABASE_URL,
    SECRET_KEY="bench-secret-key-not-for-production-0123456789",
    CONN_MAX_AGE="60",
)
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, start_server  # noqa: E402


def wrk(path: str) -> dict:
    """Return requests/s, p50 and p99 (ms) and the non-2xx count of a wrk run against `path`."""
    output = subprocess.run(
        [*WRK, "-s", str(ROOT / "bench" / "wrk_post.lua"), URL + path, "--", SECRET],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(percentile: str) -> float:
        value, unit = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors[1]) if errors else 0,
    }


def duplicate_storm(webhook_path: str, copies: int = 1000) -> dict:
    """Return how long `copies` concurrent deliveries of one key took, and what they created."""
    import requests

    from triggers.models import TriggerExecution

    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {SECRET}",
        "Idempotency-Key": "storm",
    }

    def deliver(_):
        return requests.post(
            URL + webhook_path, data=b'{"event": "storm"}', headers=headers, timeout=60
        ).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=64) as pool:
        codes = list(pool.map(deliver, range(copies)))
    elapsed = time.perf_counter() - started
    return {
        "copies": copies,
        "seconds": round(elapsed, 2),
        "executions_created": TriggerExecution.objects.filter(idempotency_key="storm").count(),
        "answers_202": codes.count(202),
        "answers_200_duplicate": codes.count(200),
        "other_answers": len(codes) - codes.count(202) - codes.count(200),
    }


def seed_executions(trigger, rows: int) -> float:
    """Insert `rows` completed executions with unique keys; return the seconds it took."""
    from triggers.models import TriggerExecution

    started = time.perf_counter()
    batch = 20_000
    for offset in range(0, rows, batch):
        TriggerExecution.objects.bulk_create(
            TriggerExecution(
                trigger=trigger, event_data={"n": n}, idempotency_key=f"seed-{n}", status="completed"
            )
            for n in range(offset, min(offset + batch, rows))
        )
    return time.perf_counter() - started


def stats_latency(calls: int = 30) -> dict:
    """Return p50/p99 (ms) of the stats computation for 1, 7 and 30 days."""
    from triggers.stats import compute_stats

    timings = []
    for n in range(calls):
        started = time.perf_counter()
        compute_stats((1, 7, 30)[n % 3])
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 1),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 1),
    }


def main() -> None:
    started = time.time()
    fresh_database(BENCH_DB)

    import django

    django.setup()
    from triggers.models import Trigger

    trigger = Trigger.objects.create(
        name="bench", slug="bench", source="custom", secret=SECRET, action_payload={"script": "echo_event.sh"}
    )
    webhook = f"/api/triggers/{trigger.public_id}/webhook"
    server = start_server(PORT)
    results: dict = {"machine": f"{platform.node()} {os.cpu_count()} cores, {platform.python_version()}"}
    try:
        wrk("/bench/insert")  # warm both paths up
        wrk(webhook)
        results["baseline_at_0"] = wrk("/bench/insert")
        results["ingest_at_0"] = wrk(webhook)
        results["duplicate_storm"] = duplicate_storm(webhook)
        results["seeding"] = {"rows": SEEDED_ROWS, "seconds": round(seed_executions(trigger, SEEDED_ROWS), 1)}
        # Measure a settled table, not autovacuum catching up with a million fresh rows.
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", BENCH_DB, "-qc", "VACUUM ANALYZE"], check=True
        )
        results["ingest_at_seeded"] = wrk(webhook)
        results["stats_at_seeded"] = stats_latency()
    finally:
        server.terminate()
        server.wait()
    results["seconds"] = round(time.time() - started)
    report(results)


def report(results: dict) -> None:
    base, ingest, seeded = results["baseline_at_0"], results["ingest_at_0"], results["ingest_at_seeded"]
    storm, stats = results["duplicate_storm"], results["stats_at_seeded"]
    ratio = ingest["requests_per_s"] / base["requests_per_s"]
    growth = seeded["requests_per_s"] / ingest["requests_per_s"]
    verdicts = {
        "ingest >= 0.8 x bare INSERT": (ratio >= 0.8, f"{ratio:.2f}x"),
        f"ingest at {SEEDED_ROWS:,} rows >= 0.9 x at 0": (growth >= 0.9, f"{growth:.2f}x"),
        "duplicate storm creates exactly one execution": (storm["executions_created"] == 1, str(storm)),
        f"stats p99 < 100 ms at {SEEDED_ROWS:,} rows": (stats["p99_ms"] < 100, f"{stats['p99_ms']} ms"),
    }
    results["verdicts"] = {name: {"met": met, "figure": figure} for name, (met, figure) in verdicts.items()}
    print(f"\nmachine: {results['machine']}; wrk {' '.join(WRK[1:])}; gunicorn 2x4; PostgreSQL\n")
    print(f"{'run':<32}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name in ("baseline_at_0", "ingest_at_0", "ingest_at_seeded"):
        r = results[name]
        print(
            f"{name:<32}{r['requests_per_s']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non_2xx']:>10}"
        )
    print(f"\nduplicate storm: {storm}")
    print(f"stats at {SEEDED_ROWS:,} rows: {stats}  (seeding took {results['seeding']['seconds']} s)\n")
    for name, (met, figure) in verdicts.items():
        print(f"{'MET ' if met else 'MISS'}  {name}: {figure}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out / 'latest.json'} ({results['seconds']} s)")


if __name__ == "__main__":
    main()

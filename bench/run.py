"""Benchmarks of ingest, dedup and stats: every figure against its target, with a verdict.

    .venv/bin/python bench/run.py            # about 10 minutes on 2 cores; needs wrk

Everything runs on this machine over loopback: PostgreSQL (a fresh database
`evonexus_bench`), gunicorn serving the project (2 workers x 4 threads, as in
production), and wrk as the load generator (a fresh Idempotency-Key per
request, Bearer auth on a custom trigger). The targets are graded against the
**necessary-work floor** (`bench/baseline/views.py`, `NecessaryWorkView`): a plain
DRF view on the same stack and database settings that does what an accepted event
must and nothing of ours (parse the JSON, check the bearer token, write the event
under its unique key, its task row and a sharded per-trigger hour counter, log one
line), for new events and for duplicates. The one-INSERT floor (`BareInsertView`)
stays as a reference line, with no verdict.

The machine is shared and noisy (one run's rounds can differ twofold), so the
floor and the webhook are measured in alternating rounds (`BENCH_ROUNDS` of
`BENCH_SECONDS` each): a ratio is the median of the ratios of rounds taken
back to back, and the req/s shown are the median rounds. Compare ratios within
one run, not numbers across runs.
Writes bench/results/latest.json.
"""

# The seeding SQL holds numbers only, nothing from outside.
# ruff: noqa: S608

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "evonexus_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
SECRET = "bench-trigger-secret-0123456789abcdef"
PORT, SQLITE_PORT = 8931, 8933
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
CONNECTIONS = 16
WRK = ["wrk", "--latency", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s"]
WORKERS = 2  # gunicorn's, as in production (start_server's default)
TRIES = 10  # per round, while one worker holds (nearly) all of wrk's connections
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000000,10000000").split(",")]
STATS_CALLS = 100  # per window: p99 is the 99th of 100

os.environ.update(
    DJANGO_SETTINGS_MODULE="bench.settings",
    DATABASE_URL=DATABASE_URL,
    SECRET_KEY="bench-secret-key-not-for-production-0123456789",
)
sys.path.insert(0, str(ROOT))

from bench.common import django_shell, fresh_database, sqlite_stack, start_server  # noqa: E402


def cpu_seconds() -> dict[str, float]:
    """Return the CPU time of all this machine's cores since boot: busy, idle, waiting on the disk, stolen.

    Stolen: what the host gave other machines while this one had work (a shared VM).
    """
    jiffies = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = jiffies
    tick = os.sysconf("SC_CLK_TCK")
    return {
        "busy": (user + nice + system + irq + softirq) / tick,
        "idle": idle / tick,
        "iowait": iowait / tick,
        "steal": steal / tick,
    }


def machine_state(shares: dict[str, float]) -> str:
    """Return what bound a run, from the shares of its cores' time: the CPU, the disk, or neither."""
    if shares["iowait"] >= 0.10:
        return "disk-bound"
    if shares["busy"] + shares["steal"] >= 0.85:
        return "CPU-bound"
    return "neither (waiting)"


def connection_spread(port: int) -> list[int]:
    """Return how many connections to `port` each process serving it holds, fewest first.

    Empty when `ss` cannot tell (not installed).
    """
    try:
        listing = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return sorted(Counter(re.findall(r"pid=(\d+)", listing)).values())


def balanced(spread: list[int]) -> bool:
    """Return whether every gunicorn worker held a fair part of the connections (or nobody can tell).

    wrk opens its connections at once and keeps them; gunicorn's workers race to
    accept them, and the first awake can take all of them: the round then runs
    on one core and half the speed, whatever the view does.
    """
    return not spread or (len(spread) == WORKERS and spread[0] >= CONNECTIONS // 8)


def wrk(url: str, mode: str = "new", *, spread_or_stop: bool = False) -> dict | None:
    """Return requests/s, p50 and p99 (ms), the non-2xx count and CPU ms per request of one wrk run.

    The CPU is the whole machine's (wrk, gunicorn, PostgreSQL, the kernel):
    what one request costs, whether the run was bound by the CPU or the disk.
    Also the shares of the cores' time the run spent busy, idle, waiting on
    the disk and stolen by the host, and how wrk's connections spread over
    the server's processes a second in. With `spread_or_stop`, `None` (the
    run stopped then) when they did not spread over every worker.
    """
    port = int(re.search(r":(\d+)/", url)[1])
    before = cpu_seconds()
    command = [*WRK, "-s", str(ROOT / "bench" / "wrk_post.lua"), url, "--", SECRET, mode]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    spread = connection_spread(port)
    if spread_or_stop and not balanced(spread):
        process.terminate()
        process.wait()
        return None
    output = process.communicate()[0]
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command, output)
    spent = {name: seconds - before[name] for name, seconds in cpu_seconds().items()}
    busy, total = spent["busy"], sum(spent.values())

    def latency(percentile: str) -> float:
        value, unit = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = int(re.search(r"(\d+) requests in", output)[1])
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors[1]) if errors else 0,
        "cpu_ms_per_request": round(busy * 1000 / max(requests, 1), 3),
        "cpu_shares": {name: round(seconds / max(total, 1e-9), 3) for name, seconds in spent.items()},
        "connections_spread": spread,
    }


def balanced_round(url: str, mode: str) -> dict:
    """Return one wrk round whose connections spread over every worker.

    A round where they did not is stopped after a second and started again,
    `TRIES` times at most; then one is kept whatever its spread. `tries`
    says how many it took.
    """
    for tries in range(1, TRIES):
        if (measured := wrk(url, mode, spread_or_stop=True)) is not None:
            return {**measured, "tries": tries}
    return {**wrk(url, mode), "tries": TRIES}


def alternating(runs: dict[str, tuple[str, str]]) -> dict[str, dict]:
    """Return, per named run (url, mode), its median round of `ROUNDS` rounds taken in turn."""
    rounds: dict[str, list[dict]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, (url, mode) in runs.items():
            rounds[name].append(balanced_round(url, mode))
    medians = {}
    for name, measured in rounds.items():
        ordered = sorted(measured, key=lambda r: r["requests_per_s"])
        medians[name] = {
            **ordered[len(ordered) // 2],
            "rounds_req_s": [r["requests_per_s"] for r in measured],
            "rounds_cpu_ms": [r["cpu_ms_per_request"] for r in measured],
            "rounds_cpu_shares": [r["cpu_shares"] for r in measured],
            "rounds_spread": [r["connections_spread"] for r in measured],
            "retried_rounds": sum(r["tries"] > 1 for r in measured),
            "unbalanced_rounds": sum(not balanced(r["connections_spread"]) for r in measured),
            "non_2xx": sum(r["non_2xx"] for r in measured),
        }
    return medians


def duplicate_storm(url: str, copies: int = 1000) -> dict:
    """Return how long `copies` concurrent deliveries of one key took, and what they created."""
    import requests

    from triggers.models import TriggerExecution

    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {SECRET}",
        "Idempotency-Key": "storm",
    }

    def deliver(_):
        return requests.post(url, data=b'{"event": "storm"}', headers=headers, timeout=60).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=64) as pool:
        codes = list(pool.map(deliver, range(copies)))
    execution = TriggerExecution.objects.with_duplicate_count().get(idempotency_key="storm")
    return {
        "copies": copies,
        "seconds": round(time.perf_counter() - started, 2),
        "executions_created": TriggerExecution.objects.filter(idempotency_key="storm").count(),
        "duplicates_counted": execution.duplicate_count,
        "answers_202": codes.count(202),
        "answers_200_duplicate": codes.count(200),
        "other_answers": len(codes) - codes.count(202) - codes.count(200),
    }


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", BENCH_DB, "-qc", sql], check=True)


def seed_executions(trigger_id: int, upto: int) -> dict:
    """Insert executions with SQL up to `upto`; return the seconds taken, `rebuild_stats`'s apart.

    All created in the last 23 hours (every stats window holds all of them:
    the worst case), in a mix of statuses, some with WhatsApp attempts. As a
    bulk import should be: with the triggers off (the rollup counts a new row
    at a time), then `rebuild_stats`, whose seconds are given apart.
    """
    from triggers.models import TriggerExecution
    from triggers.stats import rollup

    started = time.perf_counter()
    have = TriggerExecution.objects.count()
    batch = 1_000_000
    while have < upto:
        rows = min(batch, upto - have)
        psql(
            "SET session_replication_role = replica; "
            "INSERT INTO triggers_triggerexecution (trigger_id, event_data, idempotency_key, status, "
            "attempts, whatsapp_attempts, result_summary, error, created_at, redeliveries, "
            "send_id, hold_reason, over_cap_allowed, cap_slot) "
            f"SELECT {trigger_id}, '{{}}', 'seed-' || n, "
            "(ARRAY['completed','completed','completed','failed','failed_retryable','pending'])[1 + n % 6], "
            "1, n % 3, '', '', now() - (n % 82800) * interval '1 second', 0, gen_random_uuid(), '', false, "
            "false "
            f"FROM generate_series({have + 1}, {have + rows}) AS n"
        )
        have += rows
    seeded = time.perf_counter()
    rollup.rebuild()
    rebuilt = time.perf_counter()
    # Measure a settled table, not autovacuum catching up with the fresh rows.
    psql("VACUUM ANALYZE")
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "rebuild_stats_seconds": round(rebuilt - seeded, 1),
    }


def stats_latency() -> dict:
    """Return p50/p99 (ms) of `compute_stats` for each window, over `STATS_CALLS` calls each."""
    from triggers.stats.figures import compute_stats

    latencies = {}
    for days in (1, 7, 30):
        timings = []
        for _ in range(STATS_CALLS):
            started = time.perf_counter()
            compute_stats(days)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        latencies[f"{days}d"] = {
            "p50_ms": round(statistics.median(timings), 1),
            "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 1),
        }
    return latencies


def stats_match_rows() -> bool:
    """Return whether the rollup's 30-day totals equal a count of the rows (by status)."""
    from django.db.models import Count

    from triggers.models import TriggerExecution
    from triggers.stats.figures import compute_stats

    rows = dict(TriggerExecution.objects.values_list("status").annotate(n=Count("id")))
    stats = compute_stats(30).by_status
    return all(stats[status] == rows.get(status, 0) for status in stats)


def sqlite_ingest() -> dict:
    """Return the floors and the webhook, alternating, on the embedded SQLite default."""
    env = sqlite_stack(
        "evonexus-bench-sqlite-",
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="false",
        LOG_LEVEL="INFO",
        SECRET_KEY=os.environ["SECRET_KEY"],
    )
    public_id = django_shell(
        env,
        "from triggers.models import Trigger; print(Trigger.objects.create(name='bench', slug='bench', "
        f"source='custom', secret='{SECRET}', action_payload={{'script': 'echo_event.sh'}}).public_id)",
    )
    server = start_server(SQLITE_PORT, env=env)
    url = f"http://127.0.0.1:{SQLITE_PORT}"
    webhook = f"{url}/api/triggers/{public_id}/webhook"
    try:
        for warm in (f"{url}/bench/insert", f"{url}/bench/work", webhook):
            wrk(warm)
        return alternating(
            {
                "insert_new": (f"{url}/bench/insert", "new"),
                "work_new": (f"{url}/bench/work", "new"),
                "ingest_new": (webhook, "new"),
                "work_duplicates": (f"{url}/bench/work", "duplicates"),
                "ingest_duplicates": (webhook, "duplicates"),
            }
        )
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    started = time.time()
    fresh_database(BENCH_DB)

    import django

    django.setup()
    from triggers.models import Trigger

    trigger = Trigger.objects.create(
        name="bench", slug="bench", source="custom", secret=SECRET, action_payload={"script": "echo_event.sh"}
    )
    insert, floor, webhook = (
        f"http://127.0.0.1:{PORT}/bench/insert",
        f"http://127.0.0.1:{PORT}/bench/work",
        f"http://127.0.0.1:{PORT}{trigger.get_webhook_path()}",
    )
    server = start_server(PORT)
    results: dict = {
        "machine": f"{platform.node()} {os.cpu_count()} cores, {platform.python_version()}",
        "wrk": " ".join(WRK[1:]),
        "rounds": ROUNDS,
    }
    try:
        for warm in (insert, floor, webhook):
            wrk(warm)
        results["at_0"] = alternating(
            {
                "insert_new": (insert, "new"),
                "work_new": (floor, "new"),
                "ingest_new": (webhook, "new"),
                "work_duplicates": (floor, "duplicates"),
                "ingest_duplicates": (webhook, "duplicates"),
            }
        )
        results["duplicate_storm"] = duplicate_storm(webhook)
        results["seeding"] = {}
        results["stats"] = {}
        for size in SIZES:
            results["seeding"][str(size)] = seed_executions(trigger.pk, size)
            if size == SIZES[0]:
                seeded = {"work_new": (floor, "new"), "ingest_new": (webhook, "new")}
                results[f"at_{size}"] = alternating(seeded)
            results["stats"][str(size)] = stats_latency()
        results["stats_match_rows"] = stats_match_rows()
    finally:
        server.terminate()
        server.wait()
    results["sqlite"] = sqlite_ingest()
    results["seconds"] = round(time.time() - started)
    report(results)


def paired_ratio(runs: dict, numerator: str, denominator: str) -> float:
    """Return the median, over rounds, of `numerator`'s req/s over `denominator`'s in the same round."""
    pairs = zip(runs[numerator]["rounds_req_s"], runs[denominator]["rounds_req_s"], strict=True)
    return statistics.median(top / bottom for top, bottom in pairs)


def cpu_ratio(runs: dict, ingest: str, floor: str) -> float:
    """Return the median, over rounds, of the floor's CPU per request over `ingest`'s in the same round.

    The req/s ratio a machine bound by its CPU allows, whatever the disk does.
    """
    pairs = zip(runs[floor]["rounds_cpu_ms"], runs[ingest]["rounds_cpu_ms"], strict=True)
    return statistics.median(bottom / top for bottom, top in pairs)


def group_state(runs: dict) -> dict:
    """Return the mean shares of the cores' time over every round of `runs`, and what bound them."""
    rounds = [shares for run in runs.values() for shares in run["rounds_cpu_shares"]]
    shares = {name: round(statistics.mean(r[name] for r in rounds), 3) for name in rounds[0]}
    return {**shares, "state": machine_state(shares)}


def report(results: dict) -> None:
    at_0, seeded = results["at_0"], results[f"at_{SIZES[0]}"]
    sqlite, storm = results["sqlite"], results["duplicate_storm"]

    def rps(run: dict) -> float:
        return run["requests_per_s"]

    new_ratio = paired_ratio(at_0, "ingest_new", "work_new")
    duplicate_ratio = paired_ratio(at_0, "ingest_duplicates", "work_duplicates")
    seeded_ratio = paired_ratio(seeded, "ingest_new", "work_new")
    # Against the floor of the same moment: the machine's own drift between the two runs cancels out.
    flat = seeded_ratio / new_ratio
    raw_flat = rps(seeded["ingest_new"]) / rps(at_0["ingest_new"])
    sqlite_new = paired_ratio(sqlite, "ingest_new", "work_new")
    sqlite_duplicates = paired_ratio(sqlite, "ingest_duplicates", "work_duplicates")
    # The reference lines: against one autocommit INSERT, no verdict.
    reference = {
        "postgresql": paired_ratio(at_0, "ingest_new", "insert_new"),
        "sqlite": paired_ratio(sqlite, "ingest_new", "insert_new"),
    }
    results["cpu_ratios"] = {
        "new": round(cpu_ratio(at_0, "ingest_new", "work_new"), 3),
        "duplicates": round(cpu_ratio(at_0, "ingest_duplicates", "work_duplicates"), 3),
        "new_at_seeded": round(cpu_ratio(seeded, "ingest_new", "work_new"), 3),
        "sqlite_new": round(cpu_ratio(sqlite, "ingest_new", "work_new"), 3),
        "sqlite_duplicates": round(cpu_ratio(sqlite, "ingest_duplicates", "work_duplicates"), 3),
    }
    # Flat with size, in CPU terms: the seeded ratio over the empty one.
    cpu = results["cpu_ratios"]
    cpu["flat"] = round(cpu["new_at_seeded"] / cpu["new"], 3)
    results["ratios"] = {
        "new": round(new_ratio, 3),
        "duplicates": round(duplicate_ratio, 3),
        "new_at_seeded": round(seeded_ratio, 3),
        "flat": round(flat, 3),
        "flat_unnormalized": round(raw_flat, 3),
        "sqlite_new": round(sqlite_new, 3),
        "sqlite_duplicates": round(sqlite_duplicates, 3),
        "reference_one_insert": {name: round(ratio, 3) for name, ratio in reference.items()},
    }
    verdicts = {
        "PostgreSQL: new events >= 0.9 x the necessary-work floor": (new_ratio >= 0.9, f"{new_ratio:.2f}x"),
        "PostgreSQL: duplicates >= 0.9 x the necessary-work floor": (
            duplicate_ratio >= 0.9,
            f"{duplicate_ratio:.2f}x",
        ),
        f"PostgreSQL: at {SIZES[0]:,} rows >= 0.9 x at 0 (each against its floor)": (
            flat >= 0.9,
            f"{flat:.2f}x (unnormalized {raw_flat:.2f}x)",
        ),
        "SQLite: new events >= 0.9 x the necessary-work floor": (sqlite_new >= 0.9, f"{sqlite_new:.2f}x"),
        "SQLite: duplicates >= 0.9 x the necessary-work floor": (
            sqlite_duplicates >= 0.9,
            f"{sqlite_duplicates:.2f}x",
        ),
        "duplicate storm: exactly one execution, every copy counted": (
            storm["executions_created"] == 1 and storm["duplicates_counted"] == storm["copies"] - 1,
            f"{storm['executions_created']} execution, {storm['duplicates_counted']} duplicates, "
            f"{storm['seconds']} s",
        ),
        "stats rollup equals the rows": (results["stats_match_rows"], str(results["stats_match_rows"])),
    }
    for size, windows in results["stats"].items():
        worst = max(window["p99_ms"] for window in windows.values())
        verdicts[f"stats p99 < 100 ms at {int(size):,} rows, every window"] = (worst < 100, f"{worst} ms")
    results["verdicts"] = {name: {"met": met, "figure": figure} for name, (met, figure) in verdicts.items()}

    print(f"\nmachine: {results['machine']}; wrk {results['wrk']}; gunicorn 2x4; median of {ROUNDS} rounds\n")
    print(f"{'run':<34}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'CPU ms':>8}  rounds")
    for group in ("at_0", f"at_{SIZES[0]}", "sqlite"):
        for name, run in results[group].items():
            print(
                f"{group + ' ' + name:<34}{rps(run):>8.0f}{run['p50_ms']:>9.2f}{run['p99_ms']:>9.2f}"
                f"{run['non_2xx']:>9}{statistics.median(run['rounds_cpu_ms']):>8.2f}"
                f"  {[round(r) for r in run['rounds_req_s']]}"
            )
    print(
        "\nCPU per request (the whole machine's, median of rounds), the floor's over the webhook's: "
        + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in results["cpu_ratios"].items())
    )
    groups = {"PostgreSQL": "at_0", f"PostgreSQL at {SIZES[0]:,} rows": f"at_{SIZES[0]}", "SQLite": "sqlite"}
    results["machine_state"] = {label: group_state(results[group]) for label, group in groups.items()}
    rounds = [run for group in groups.values() for run in results[group].values()]
    results["rounds_retried"] = sum(run["retried_rounds"] for run in rounds)
    results["rounds_unbalanced"] = sum(run["unbalanced_rounds"] for run in rounds)
    print(
        f"rounds taken again because one worker held wrk's connections: {results['rounds_retried']} "
        f"of {ROUNDS * len(rounds)}; still unbalanced after {TRIES} tries: {results['rounds_unbalanced']}"
    )
    print(
        "machine state (the cores' time over each group's rounds): "
        + "; ".join(
            f"{label}: {state['state']}, busy {state['busy']:.0%}, idle {state['idle']:.0%}, "
            f"disk wait {state['iowait']:.0%}, stolen {state['steal']:.0%}"
            for label, state in results["machine_state"].items()
        )
    )
    print(
        "reference, no verdict: the webhook against one autocommit INSERT: "
        + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in reference.items())
    )
    print(f"\nduplicate storm: {storm}")
    print(f"seeding (s): {results['seeding']}")
    for size, windows in results["stats"].items():
        print(f"stats at {int(size):,} rows: {windows}")
    print()
    for name, (met, figure) in verdicts.items():
        print(f"{'MET ' if met else 'MISS'}  {name}: {figure}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out / 'latest.json'} ({results['seconds']} s)")


if __name__ == "__main__":
    main()

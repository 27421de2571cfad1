"""Benchmark: WhatsApp media events of 20, 100 and 400 MiB through a real gunicorn worker.

    .venv/bin/python bench/media.py          # about 2 minutes; SQLite, no other service

Evolution Go posts a received file base64-encoded inside the Message webhook, with
no size cap, so a 400 MiB document is a body of about 534 MiB. The web process reads
it as a stream and the file goes to the media directory as it arrives
(triggers/sources/files.py, triggers/receive/media.py): its memory must not grow
with the body. This prints, against the goal (peak RSS growth under 64 MiB whatever
the size), the worker's peak memory growth for each size (VmHWM from /proc, after a
warm-up request; one worker with one thread, so one request at a time, then one
worker with four threads taking four 30 MiB files at once), the latency, and what
became of the file (kept up to WHATSAPP_MEDIA_MAX_BYTES, 100 MiB; dropped past it,
the event kept). It writes bench/results/media.json.
"""

import base64
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import django_shell, sqlite_stack, start_server  # noqa: E402

PORT = 8933
URL = f"http://127.0.0.1:{PORT}"
TOKEN = "bench-instance-token-0123456789"
MIB = 1024 * 1024
SIZES_MIB = (20, 100, 400)
CONCURRENT, CONCURRENT_MIB = 4, 30
GOAL_GROWTH_MIB = 64


def write_media_event(path: Path, size: int, message_id: str) -> int:
    """Write to `path` the body of an Evolution Go Message carrying `size` random bytes as base64.

    Written a piece at a time, so the benchmark itself holds no body in memory;
    return the body's length.
    """
    head = {
        "event": "Message",
        "data": {
            "Info": {
                "ID": message_id,
                "Chat": "5511999999999@s.whatsapp.net",
                "Sender": "5511999999999@s.whatsapp.net",
                "IsFromMe": False,
                "Type": "media",
                "MediaType": "document",
            },
            "Message": {
                "documentMessage": {"mimetype": "application/pdf", "caption": "/invoice"},
                "base64": "@",
            },
        },
        "instanceToken": TOKEN,
        "instanceName": "bench",
    }
    before, after = json.dumps(head).encode().split(b'"@"')
    with path.open("wb") as out:
        out.write(before + b'"')
        left = size
        while left:
            piece = min(left, 3 * MIB)  # a multiple of 3: no padding inside the string
            out.write(base64.b64encode(os.urandom(piece)))
            left -= piece
        out.write(b'"' + after)
    return path.stat().st_size


def peak_rss_kib(pid: int) -> int:
    """Return the process's peak resident set size so far (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


def worker_pid(master_pid: int) -> int:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def post_file(url: str, path: Path) -> tuple[int, dict, float]:
    """Return the status, the JSON answer and the seconds it took to post the body in `path`."""
    import requests

    started = time.perf_counter()
    with path.open("rb") as body:  # a file: requests sends its length and streams it
        answer = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=600)
    return answer.status_code, answer.json(), time.perf_counter() - started


def stored_media(env: dict, execution_id: int) -> dict:
    code = (
        "import json; from triggers.models import TriggerExecution as E; "
        f"e = E.objects.get(pk={execution_id}).event_data; "
        "print(json.dumps({'dropped': e.get('media_dropped'), 'text': e.get('text')}))"
    )
    return json.loads(django_shell(env, code))


def measure(url: str, env: dict, threads: int, bodies: list[Path]) -> tuple[float, list[float], list[int]]:
    """Return the worker's peak RSS growth (MiB), the latencies and the executions, posting `bodies`."""
    server = start_server(PORT, env=env, workers=1, threads=threads)
    try:
        pid = worker_pid(server.pid)
        with tempfile.TemporaryDirectory() as scratch:
            warm = Path(scratch) / "warm.json"
            write_media_event(warm, 64 * 1024, f"3EB0WARMUP{time.monotonic_ns():016d}"[:22])
            status, answer, _ = post_file(url, warm)
            assert status == 202, answer
        before = peak_rss_kib(pid)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(lambda path: post_file(url, path), bodies))
        growth = (peak_rss_kib(pid) - before) / 1024
    finally:
        server.terminate()
        server.wait()
    for status, answer, _ in results:
        assert status == 202, answer
    latencies = [seconds for _, _, seconds in results]
    return growth, latencies, [answer["execution_id"] for _, answer, _ in results]


def main() -> None:
    media_dir = Path(tempfile.mkdtemp(prefix="evonexus-bench-media-files-"))
    env = sqlite_stack("evonexus-bench-media-", MEDIA_S3_ENDPOINT_URL="", WHATSAPP_MEDIA_DIR=str(media_dir))
    public_id = django_shell(
        env,
        "from triggers.models import Trigger; print(Trigger.objects.create(name='m', slug='m', "
        f"source='whatsapp', secret='{TOKEN}', action_payload={{'script': 'echo_event.sh'}}).public_id)",
    )
    url = f"{URL}/api/triggers/{public_id}/webhook"
    rows = []
    with tempfile.TemporaryDirectory(prefix="evonexus-bench-bodies-") as scratch:
        for size_mib in SIZES_MIB:
            path = Path(scratch) / f"{size_mib}.json"
            body_bytes = write_media_event(path, size_mib * MIB, f"3EB0BENCH{size_mib:013d}")
            growth, [seconds], [execution_id] = measure(url, env, 1, [path])
            path.unlink()
            stored = stored_media(env, execution_id)
            rows.append(
                {
                    "file_mib": size_mib,
                    "body_mib": round(body_bytes / MIB, 1),
                    "at_once": 1,
                    "peak_rss_growth_mib": round(growth, 1),
                    "latency_s": round(seconds, 2),
                    "file": "dropped (too large)" if stored["dropped"] else "kept",
                    "caption_kept": stored["text"] == "/invoice",
                }
            )
        paths = []
        for n in range(CONCURRENT):
            path = Path(scratch) / f"concurrent-{n}.json"
            write_media_event(path, CONCURRENT_MIB * MIB, f"3EB0CONC{n:014d}")
            paths.append(path)
        growth, latencies, _ = measure(url, env, CONCURRENT, paths)
        rows.append(
            {
                "file_mib": CONCURRENT_MIB,
                "body_mib": round(paths[0].stat().st_size / MIB, 1),
                "at_once": CONCURRENT,
                "peak_rss_growth_mib": round(growth, 1),
                "latency_s": round(statistics.median(latencies), 2),
                "file": "kept",
                "caption_kept": True,
            }
        )
    print("\nWhatsApp media events through one gunicorn worker (SQLite, files to the local media directory)")
    print(f"{'file':>9} {'body':>9} {'at once':>8} {'RSS growth':>11} {'latency':>8}  file")
    for row in rows:
        print(
            f"{row['file_mib']:>5} MiB {row['body_mib']:>5} MiB {row['at_once']:>8} "
            f"{row['peak_rss_growth_mib']:>7} MiB {row['latency_s']:>6} s  {row['file']}"
        )
    worst = max(row["peak_rss_growth_mib"] for row in rows)
    met = worst < GOAL_GROWTH_MIB and all(row["caption_kept"] for row in rows)
    print(
        f"\n{'MET ' if met else 'MISS'}  peak RSS growth < {GOAL_GROWTH_MIB} MiB at every size "
        f"(worst {worst} MiB), every caption kept"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    summary = {"rows": rows, "worst_growth_mib": worst, "met": met}
    (out / "media.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

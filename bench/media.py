"""Benchmark: one WhatsApp media event of 20 MiB through a real gunicorn worker.

    .venv/bin/python bench/media.py          # about 30 s; SQLite, no other service

Evolution Go posts a received file base64-encoded inside the Message webhook, so
a 20 MiB video is a body of about 27 MiB. The web process must take it whole and
keep only its metadata (triggers/receive/media.py). This prints, against the
goal, the worker's peak memory growth for one such request (VmHWM from /proc,
after a warm-up request) and the latency of the request, and writes
bench/results/media.json.
"""

import base64
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import django_shell, sqlite_stack, start_server  # noqa: E402

PORT = 8933
URL = f"http://127.0.0.1:{PORT}"
TOKEN = "bench-instance-token-0123456789"
FILE_BYTES = 20 * 1024 * 1024
GOAL_GROWTH = 4.0  # peak RSS growth, in bodies


def media_event(size: int, message_id: str) -> bytes:
    """Return the body of an Evolution Go Message carrying `size` random bytes as base64."""
    event = {
        "event": "Message",
        "data": {
            "Info": {
                "ID": message_id,
                "Chat": "5511999999999@s.whatsapp.net",
                "Sender": "5511999999999@s.whatsapp.net",
                "IsFromMe": False,
                "Type": "media",
                "MediaType": "video",
            },
            "Message": {
                "videoMessage": {"mimetype": "video/mp4"},
                "base64": base64.b64encode(os.urandom(size)).decode(),
            },
        },
        "instanceToken": TOKEN,
        "instanceName": "bench",
    }
    return json.dumps(event).encode()


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


def main() -> None:
    import requests

    env = sqlite_stack("evonexus-bench-media-", MEDIA_S3_ENDPOINT_URL="")
    public_id = django_shell(
        env,
        "from triggers.models import Trigger; print(Trigger.objects.create(name='m', slug='m', "
        f"source='whatsapp', secret='{TOKEN}', action_payload={{'script': 'echo_event.sh'}}).public_id)",
    )
    url = f"{URL}/api/triggers/{public_id}/webhook"
    headers = {"Content-Type": "application/json"}
    server = start_server(PORT, env=env, workers=1, threads=1)
    try:
        pid = worker_pid(server.pid)
        warm = requests.post(
            url, data=media_event(64 * 1024, "3EB0WARMUP00000000000000"), headers=headers, timeout=60
        )
        assert warm.status_code == 202, warm.text
        before = peak_rss_kib(pid)
        latencies, body_bytes = [], 0
        for n in range(3):
            body = media_event(FILE_BYTES, f"3EB0BENCH{n:013d}")
            body_bytes = len(body)
            started = time.perf_counter()
            answer = requests.post(url, data=body, headers=headers, timeout=120)
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 202, answer.text
            del body
        growth_bytes = (peak_rss_kib(pid) - before) * 1024
    finally:
        server.terminate()
        server.wait()
    ratio = growth_bytes / body_bytes
    results = {
        "file_mib": FILE_BYTES / 2**20,
        "body_mib": round(body_bytes / 2**20, 1),
        "peak_rss_growth_mib": round(growth_bytes / 2**20, 1),
        "growth_in_bodies": round(ratio, 2),
        "latency_s": [round(s, 2) for s in latencies],
        "median_latency_s": round(statistics.median(latencies), 2),
    }
    print(
        f"\nmedia event: a {results['file_mib']:.0f} MiB file, a {results['body_mib']} MiB body "
        "(gunicorn 1 worker x 1 thread, SQLite, no S3)"
    )
    print(f"peak RSS growth of the worker: {results['peak_rss_growth_mib']} MiB = {ratio:.2f} bodies")
    print(f"latency: {results['latency_s']} s (median {results['median_latency_s']} s)\n")
    met = ratio < GOAL_GROWTH
    print(f"{'MET ' if met else 'MISS'}  peak RSS growth < {GOAL_GROWTH:g} x the body: {ratio:.2f}x")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "media.json").write_text(json.dumps({**results, "met": met}, indent=2))


if __name__ == "__main__":
    main()

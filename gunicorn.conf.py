"""gunicorn settings for evonexus (`gunicorn -c gunicorn.conf.py evonexus.wsgi`).

Flags on the command line override these. With PROMETHEUS_MULTIPROC_DIR set,
every worker writes its counters there and /metrics sums them: empty that
directory before starting (README, "Production"), not while processes run.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
graceful_timeout = 10
accesslog = "-"


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

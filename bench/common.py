"""What both benchmark scripts need: a fresh database and a gunicorn serving the project."""

import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.processes import gunicorn_command

ROOT = Path(__file__).resolve().parent.parent


def fresh_database(name: str) -> None:
    """Drop and create the PostgreSQL database `name`, then migrate it (DATABASE_URL must point at it)."""
    for command in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", command], check=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--run-syncdb"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start_server(port: int, env: dict | None = None, workers: int = 2, threads: int = 4) -> subprocess.Popen:
    """Return a gunicorn process serving the project on `port`, once /healthz answers."""
    command = gunicorn_command(port, workers=workers, threads=threads, access_log="/dev/null")
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return server
        except requests.RequestException:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("gunicorn did not start within 30 s")

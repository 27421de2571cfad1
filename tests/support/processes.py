"""Real processes for the tests and benchmarks: gunicorn servers and task workers.

Shared by `tests/` and `bench/`; nothing here is a pytest fixture.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent


def database_url() -> str:
    """Return a DATABASE_URL for the test database the current test runs against."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    """Return the environment of a child process on the test settings and database."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
    env.update(extra)
    return env


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log_path: Path | None = None) -> None:
    """Return once `url` answers any HTTP response; raise if `process` exits or 30 s pass."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text()[-2000:] if log_path else ""
            raise RuntimeError(f"process exited before serving {url}: {log}")
        try:
            # Connect quickly, but give the first request time: it imports lazily.
            requests.get(url, timeout=(1, 10))
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within 30 s")


def gunicorn_command(port: int, *, workers: int = 2, threads: int = 4, access_log: str = "-") -> list[str]:
    """Return the command that serves the project with gunicorn on a loopback `port`."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "evonexus.wsgi",
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--access-logfile",
        access_log,
        "--graceful-timeout",
        "5",
    ]


class ServerProcess:
    """A gunicorn process serving the project on a loopback port, on the test database."""

    def __init__(self, log_path: Path, workers: int = 2, threads: int = 4, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process = subprocess.Popen(
            gunicorn_command(self.port, workers=workers, threads=threads),
            cwd=ROOT,
            env=process_env(**env),
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so kill() reaches the master and every worker
        )
        wait_until_serving(f"{self.url}/api/triggers/none/webhook", self.process, self.log_path)

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: a crash, not a shutdown."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text()


def assert_unharmed(server: ServerProcess) -> None:
    """Assert that the server process is up and has never answered a 5xx nor logged a traceback."""
    assert server.process.poll() is None, "the server died"
    assert not re.search(r'" 5\d\d ', server.log()), server.log()[-3000:]
    assert "Traceback" not in server.log(), server.log()[-3000:]


def worker_command(*, burst: bool = True) -> list[str]:
    """Return the command of a task worker for the configured backend (db_worker or rqworker)."""
    if os.environ.get("TASKS_BACKEND") == "rq":
        command = [
            "rqworker",
            "default",
            "--job-class",
            "django_tasks_rq.Job",
            "--with-scheduler",
            "--worker-class",
            "rq.worker.SimpleWorker",
        ]
        return [sys.executable, "manage.py", *command, *(["--burst"] if burst else [])]
    command = ["db_worker", "--no-startup-delay", "--no-reload", "--interval", "0.1"]
    return [sys.executable, "manage.py", *command, *(["--batch"] if burst else [])]


def run_worker(scripts_dir: Path | None = None, timeout: float = 120, **env: str) -> str:
    """Run a task worker until the queue is empty (db_worker --batch, or rqworker --burst)."""
    if scripts_dir is not None:
        env["SCRIPTS_DIR"] = str(scripts_dir)
    result = subprocess.run(
        worker_command(),
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr

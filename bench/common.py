"""What the benchmark scripts share: a fresh database, a gunicorn serving the project, their verdicts."""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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


def sqlite_stack(prefix: str, **settings: str) -> dict:
    """Return the environment of a fresh, migrated SQLite stack in a temporary directory.

    `settings` are further environment variables (EVOLUTION_GO_URL, ...).
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evonexus.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    migrate = [sys.executable, "manage.py", "migrate", "--run-syncdb", "--verbosity", "0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True)
    return env


def django_shell(env: dict, code: str) -> str:
    """Return what `code`, run by `manage.py shell` in the stack of `env`, printed."""
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def report_verdicts(verdicts: dict[str, tuple[bool, str]], results: dict, name: str, started: float) -> None:
    """Print each target's verdict (MET or MISS, with its figure); write them with `results` to
    bench/results/`name`.json, with the run's seconds since `started` (a `time.time()`)."""
    for target, (met, figure) in verdicts.items():
        print(f"{'MET ' if met else 'MISS'}  {target}: {figure}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    results["verdicts"] = {target: {"met": met, "figure": fig} for target, (met, fig) in verdicts.items()}
    results["seconds"] = round(time.time() - started)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out / f'{name}.json'} ({results['seconds']} s)")


def run_in_django(main: Callable[[], None]) -> None:
    """Set Django up with the project's settings (DEBUG, as on a developer's machine) and run `main`.

    For the scripts that run the sandbox in this process: its threads end with
    the run, so their exceptions at exit are not printed.
    """
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evonexus.settings")
    os.environ.setdefault("DEBUG", "true")
    django.setup()
    threading.excepthook = lambda args: None
    main()

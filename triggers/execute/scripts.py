"""The script action: run a program from SCRIPTS_DIR with the event on stdin."""

import json
import os
import signal
import subprocess
from pathlib import Path

from django.conf import settings

from triggers.outcomes import ActionOutcome

# A script exits with EX_TEMPFAIL (sysexits.h) to say "try again later".
EX_TEMPFAIL = 75


def resolve_script(name: str) -> Path:
    """Return the absolute path of script `name` inside `SCRIPTS_DIR`.

    Raises `ValueError` when the name resolves outside the directory (`..`,
    absolute paths, symlinks pointing out) or is not an executable file.
    """
    scripts_dir = Path(settings.SCRIPTS_DIR).resolve()
    path = (scripts_dir / name).resolve()
    if not path.is_relative_to(scripts_dir) or path == scripts_dir:
        raise ValueError(f"script {name!r} resolves outside SCRIPTS_DIR; refused")
    if not path.is_file():
        raise ValueError(f"script {name!r} not found in SCRIPTS_DIR")
    if not os.access(path, os.X_OK):
        raise ValueError(f"script {name!r} is not executable")
    return path


def _truncate(text: str) -> str:
    limit = settings.SCRIPT_OUTPUT_MAX_CHARS
    return text if len(text) <= limit else text[:limit] + f"\n[truncated {len(text) - limit} chars]"


def _script_environment(execution_id: int, trigger_slug: str) -> dict[str, str]:
    # Scripts get a small, explicit environment: never the service's own secrets.
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TZ") if name in os.environ}
    env.update(EVONEXUS_EXECUTION_ID=str(execution_id), EVONEXUS_TRIGGER=trigger_slug)
    return env


def run_script(payload: dict, event: dict, *, execution_id: int, trigger_slug: str) -> ActionOutcome:
    """Return the outcome of running the payload's script with the event JSON on stdin.

    Exit 0 completes; exit 75 (EX_TEMPFAIL) or running past
    `SCRIPT_TIMEOUT_SECONDS` is transient; a missing or refused program and
    any other exit code are permanent. Output is kept, truncated.
    """
    try:
        path = resolve_script(payload["script"])
    except ValueError as exc:
        return ActionOutcome.permanent(str(exc))
    command = [str(path), *payload.get("args", [])]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=path.parent,
        env=_script_environment(execution_id, trigger_slug),
        start_new_session=True,  # so a timeout kills the script's children too
    )
    try:
        stdout, stderr = process.communicate(
            json.dumps(event).encode(), timeout=settings.SCRIPT_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return ActionOutcome.transient(
            f"script timed out after {settings.SCRIPT_TIMEOUT_SECONDS:g} s",
            summary=_truncate(stdout.decode(errors="replace")),
        )
    out = _truncate(stdout.decode(errors="replace"))
    err = _truncate(stderr.decode(errors="replace"))
    if process.returncode == 0:
        return ActionOutcome.completed(out)
    message = f"script exited with code {process.returncode}" + (f": {err.strip()}" if err.strip() else "")
    if process.returncode == EX_TEMPFAIL:
        return ActionOutcome.transient(message, summary=out)
    return ActionOutcome.permanent(message, summary=out)

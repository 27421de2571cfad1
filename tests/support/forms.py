"""Inputs the tests write: scripts in SCRIPTS_DIR, the admin's trigger form."""

from pathlib import Path


def write_script(directory: Path, name: str, body: str) -> Path:
    """Return the path of an executable shell script `name` in `directory` running `body`."""
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def admin_trigger_form(**fields: str) -> dict[str, str]:
    """Return POST data for the admin's trigger form: a valid script trigger, with `fields` changed."""
    return {
        "name": "Form trigger",
        "slug": "form-trigger",
        "source": "custom",
        "secret": "a-secret-of-enough-length",
        "event_filter": "{}",
        "idempotency_key_paths": "[]",
        "action_type": "script",
        "action_payload": '{"script": "a.sh"}',
        "recipient": "",
        "auto_redeliveries": "0",
        "enabled": "on",
        **fields,
    }

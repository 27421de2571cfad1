"""Settings come from the environment and refuse malformed values loudly."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from evonexus.env import env_bool, env_int, env_list
from tests.support.processes import ROOT

PRINT_JOURNAL_MODE = (
    "import django; django.setup(); from django.db import connection; "
    "cursor = connection.cursor(); cursor.execute('PRAGMA journal_mode'); print(cursor.fetchone()[0])"
)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    clean.update(DJANGO_SETTINGS_MODULE="evonexus.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.process
def test_it_refuses_the_development_secret_key_when_debug_is_off():
    result = run_python("import django; django.setup()", DEBUG="false")

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.process
def test_it_starts_with_the_development_secret_key_in_debug_mode(tmp_path):
    result = run_python(
        "import django; django.setup(); print('ok')",
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
    )

    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.process
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "ture", "DEBUG must be true or false"),
        ("DATABASE_POOL_MAX_SIZE", "ten", "DATABASE_POOL_MAX_SIZE must be an integer"),
        ("WEBHOOK_MAX_BODY_BYTES", "0", "WEBHOOK_MAX_BODY_BYTES must be at least 1"),
        ("DATABASE_URL", "mysql://root@localhost/db", "DATABASE_URL must be a sqlite:// or postgres:// URL"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL is malformed"),
        ("CSRF_TRUSTED_ORIGINS", "hooks.example.com", "need a scheme"),
        ("SCRIPT_TIMEOUT_SECONDS", "nan", "SCRIPT_TIMEOUT_SECONDS must be at least"),
        ("AUTO_REDELIVERY_SCHEDULE", "60,5m", "AUTO_REDELIVERY_SCHEDULE must be comma-separated seconds"),
        ("AUTO_REDELIVERY_SCHEDULE", "60,-1", "must not hold negative durations"),
        ("AUTO_REDELIVERY_JITTER", "1.5", "AUTO_REDELIVERY_JITTER must be below 1"),
    ],
)
def test_it_fails_loudly_on_a_malformed_setting(variable, value, message):
    result = run_python("import django; django.setup()", SECRET_KEY="x" * 50, **{variable: value})

    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.process
@pytest.mark.parametrize(("setting", "threshold"), [("", "5"), ("true", "5"), ("false", "None")])
def test_postgresql_prepares_repeated_statements_unless_told_not_to(setting, threshold):
    # Django turns psycopg's prepared statements off unless OPTIONS ask for them.
    result = run_python(
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS']['prepare_threshold'])",
        SECRET_KEY="x" * 50,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        DATABASE_PREPARED_STATEMENTS=setting,
    )

    assert result.stdout.strip() == threshold, result.stderr


@pytest.mark.process
def test_the_embedded_sqlite_default_runs_in_wal_mode(tmp_path):
    result = run_python(
        PRINT_JOURNAL_MODE, SECRET_KEY="x" * 50, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3"
    )

    assert result.stdout.strip() == "wal", result.stderr


@pytest.mark.process
def test_the_embedded_sqlite_default_keeps_its_connections_between_requests(tmp_path):
    code = (
        "import django; django.setup(); from django.db import connection; "
        "from django.core.signals import request_finished; "
        "connection.ensure_connection(); first = connection.connection; "
        "request_finished.send(sender=None); "
        "print(connection.connection is first)"
    )
    result = run_python(code, SECRET_KEY="x" * 50, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")

    assert result.stdout.strip() == "True", result.stderr


def test_env_helpers_read_lists_integers_and_booleans(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , b.example,, ")
    monkeypatch.setenv("COUNT", "7")
    monkeypatch.setenv("FLAG", "Yes")

    assert env_list("HOSTS") == ["a.example", "b.example"]
    assert env_int("COUNT", 1, minimum=1) == 7
    assert env_bool("FLAG") is True
    assert env_bool("UNSET_FLAG", default=True) is True
    with pytest.raises(ImproperlyConfigured):
        env_int("COUNT", 1, minimum=10)

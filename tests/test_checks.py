"""`manage.py check --deploy` is clean under the production settings docs/production.md documents."""

import os
import subprocess
import sys

import pytest

from tests.support.processes import ROOT

pytestmark = pytest.mark.process  # every test here starts a process

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "kQ3v9xZr2LmTn8wYp5HsJd7Fb4Gc1Vq6Ae0Ru3Wt9Xy2Zn5Mk8Pj1Lh4Gf7Ds0Qa",
    "ALLOWED_HOSTS": "hooks.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://hooks.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SECURE_COOKIES": "true",
    "BEHIND_TLS_PROXY": "true",
}


def check_deploy(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    clean.update(DJANGO_SETTINGS_MODULE="evonexus.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_under_the_documented_production_settings():
    result = check_deploy(**PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_tls_hardening_is_left_out():
    result = check_deploy(**{**PRODUCTION, "SECURE_HSTS_SECONDS": "0", "SECURE_COOKIES": "false"})

    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W012" in result.stderr


def test_a_settings_token_no_instance_holds_is_reported_once_instances_exist(db, settings):
    from triggers.checks import check_settings_instance_token
    from whatsapp.models import Instance

    settings.EVOLUTION_GO_INSTANCE_TOKEN = "the-first-token-0123"
    first = Instance.objects.sole()  # the instance `default`, from the settings
    settings.EVOLUTION_GO_INSTANCE_TOKEN = "a-changed-token-0123"

    [warning] = check_settings_instance_token()
    first.token = "a-changed-token-0123"
    first.save()

    assert warning.id == "triggers.W002" and "a-changed-token" not in warning.msg + warning.hint
    assert check_settings_instance_token() == []

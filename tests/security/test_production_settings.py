"""Production settings pass Django's deployment checks and refuse to start without real secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

MANAGE = str(Path(settings.BASE_DIR, "manage.py"))
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "dr_portal.settings.production",
    "DJANGO_SECRET_KEY": "k3y-" + "x7Qp9vLm2Rt8" * 6,  # 76 characters, not a placeholder
    "DATABASE_URL": "postgres://drportal:secret@db.invalid:5432/drportal",  # never connected to
    "DJANGO_ALLOWED_HOSTS": "drportal.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://drportal.example.org",
    # Preload is the operator's commitment for the whole domain (README); without it W021 warns.
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
}


def _manage(*args: str, **env_changes: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env |= PRODUCTION_ENV
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, MANAGE, *args], env=env, capture_output=True, text=True, timeout=120
    )


def _dotenv_sets(name: str) -> bool:
    dotenv = Path(settings.BASE_DIR, ".env")
    return dotenv.exists() and any(
        line.strip().startswith(f"{name}=") for line in dotenv.read_text().splitlines()
    )


def test_deploy_checks_pass_with_no_warnings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.skipif(_dotenv_sets("DJANGO_SECRET_KEY"), reason="a local .env supplies the key")
def test_refuses_to_start_without_a_secret_key():
    result = _manage("check", DJANGO_SECRET_KEY=None)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.parametrize("key", ["", "short", "change-me-to-a-long-random-string" * 2])
def test_refuses_a_short_or_placeholder_secret_key(key):
    result = _manage("check", DJANGO_SECRET_KEY=key)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_values():
    """The secure settings themselves, read from the production module in a subprocess."""
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS >= 31536000, s.SESSION_COOKIE_HTTPONLY, s.X_FRAME_OPTIONS, "
        "'csp.middleware.CSPMiddleware' in s.MIDDLEWARE, s.AXES_FAILURE_LIMIT)"
    )
    result = _manage("shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "False",
        "True",
        "True",
        "True",
        "True",
        "True",
        "DENY",
        "True",
        "5",
    ]

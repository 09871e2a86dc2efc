"""The local settings (`.env.example`'s default module) against both databases it may be paired
with, and its embedded broker, which must keep its files under the queue folder."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.workers import ROOT

pytestmark = pytest.mark.integration


def run_local(cwd: Path, code: str, **env_overrides: str) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_"))},
        "DJANGO_SETTINGS_MODULE": "dr_portal.settings.local",
        "PYTHONPATH": str(ROOT),
        **env_overrides,
    }
    command = [sys.executable, "-c", f"import django; django.setup(); {code}"]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_local_settings_migrate_on_postgresql(db, tmp_path):
    """`.env.example` pairs settings.local with a PostgreSQL URL: SQLite's lock timeout must not be
    passed to PostgreSQL (it refused the connection: invalid connection option "timeout")."""
    db_settings = connection.settings_dict
    url = f"postgres://{db_settings['USER']}@{db_settings['HOST']}:{db_settings['PORT']}/"
    out = run_local(
        tmp_path,
        "from django.conf import settings; from django.core.management import call_command; "
        "db = settings.DATABASES['default']; print(db['ENGINE'], db['OPTIONS']); "
        "call_command('migrate', check_unapplied=True); "
        "call_command('check', databases=['default'])",
        DATABASE_URL=url + db_settings["NAME"],
        CELERY_QUEUE_DIR=str(tmp_path / "queue"),
    )
    assert "django.db.backends.postgresql {}" in out


def test_local_settings_keep_the_sqlite_lock_timeout(tmp_path):
    out = run_local(
        tmp_path,
        "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_QUEUE_DIR=str(tmp_path / "queue"),
    )
    assert "'timeout': 20" in out


def test_embedded_broker_writes_only_under_its_queue_folder(tmp_path):
    """Publishing a task and a remote-control broadcast through the filesystem transport creates
    its exchange tables under CELERY_QUEUE_DIR, nothing in the working directory (kombu's default
    control folder is ./control)."""
    workdir, queue = tmp_path / "cwd", tmp_path / "queue"
    workdir.mkdir()
    run_local(
        workdir,
        "from dr_portal.celery import app; from screening.tasks import grade_image; "
        "grade_image.apply_async(args=[1]); app.control.ping(timeout=0.1)",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_QUEUE_DIR=str(queue),
    )
    assert list(workdir.iterdir()) == []
    assert (queue / "control" / "grading.exchange").exists()
    assert (queue / "control" / "reply.celery.pidbox.exchange").exists()
    assert len(list((queue / "out").iterdir())) >= 1  # the task message

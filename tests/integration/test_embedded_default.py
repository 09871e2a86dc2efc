"""The embedded default of scripts/run.sh: SQLite and Celery's filesystem transport instead of
PostgreSQL and Redis, with the same task code grading the demo photographs in a real worker."""

import json
import os
import subprocess
import sys

import pytest

from tests.workers import ROOT, kill, wait_for

pytestmark = pytest.mark.integration


def manage(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "manage.py", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_run_command_setup_grades_demo_images_without_redis_or_postgres(tmp_path, settings):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_"))},
        "DJANGO_SETTINGS_MODULE": "dr_portal.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PRIVATE_MEDIA_ROOT": str(tmp_path / "media"),
        "CELERY_QUEUE_DIR": str(tmp_path / "queue"),
        "GRADING_WEIGHTS_DIR": str(settings.GRADING_WEIGHTS_DIR),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    manage(env, "migrate", "--noinput")
    assert "Demo data ready" in manage(env, "seed_demo")  # uploads demo photographs: queued

    command = [sys.executable, "-m", "celery", "-A", "dr_portal", "worker", "-Q", "grading"]
    workdir = tmp_path / "workdir"  # stands for the repository root: nothing may be written there
    workdir.mkdir()
    with (tmp_path / "worker.log").open("w") as log:
        worker = subprocess.Popen(
            [*command, "--concurrency", "1", "--without-gossip", "--without-mingle"],
            cwd=workdir,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    query = (
        "import json; from screening.models import GradingJob, Visit; print(json.dumps(["
        "sorted(GradingJob.objects.values_list('status', flat=True)), "
        "sorted(Visit.objects.values_list('status', flat=True))]))"
    )

    def all_graded() -> list | None:
        jobs, visits = json.loads(manage(env, "shell", "-c", query).strip().splitlines()[-1])
        done = jobs and set(jobs) == {"succeeded"} and "grading" not in visits
        return [jobs, visits] if done else None  # the visits roll up just after the last job

    try:
        jobs, visits = wait_for(all_graded, timeout=240, what="the demo photographs to be graded")
    finally:
        kill(worker)
    assert len(jobs) == 4
    assert visits == ["awaiting_review", "awaiting_review"]
    # the broker's exchange tables (the worker's remote-control pidbox too) live in the queue folder
    assert list(workdir.iterdir()) == []
    assert (tmp_path / "queue" / "control" / "celery.pidbox.exchange").exists()

"""Fixtures for the real stack: the test PostgreSQL database, Redis, and real Celery workers.

Each xdist process has its own Redis database (settings/test.py) and its own test database, which
the worker processes started here are pointed at.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_broker() -> None:
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def start_worker(transactional_db, clean_broker, tmp_path) -> Iterator[Callable[..., object]]:
    """Start a real `celery worker -Q grading` process; all are killed at the end of the test."""
    workers: list[subprocess.Popen] = []

    def start(**env_overrides: str) -> subprocess.Popen:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dr_portal.settings.test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "PRIVATE_MEDIA_ROOT": str(settings.PRIVATE_MEDIA_ROOT),
            "GRADING_WEIGHTS_DIR": str(settings.GRADING_WEIGHTS_DIR),
            "GRADING_BATCH_WAIT_SECONDS": "0.2",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            **env_overrides,
        }
        log = (tmp_path / f"worker-{len(workers)}.log").open("w")
        command = [sys.executable, "-m", "celery", "-A", "dr_portal", "worker", "-Q", "grading"]
        command += ["--concurrency", "1", "--loglevel", "INFO", "-n", f"t{uuid.uuid4().hex[:8]}@%h"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        workers.append(process)
        return process

    yield start
    for process in workers:
        kill(process)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool children: no chance to ack, release or clean up."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def wait_for(predicate: Callable[[], object], timeout: float = 120, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def pool_children(process: subprocess.Popen) -> list[int]:
    """Process ids of the worker's pool children (its ForkPoolWorker processes)."""
    path = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    return [int(pid) for pid in path.read_text().split()]


@contextlib.contextmanager
def beat(every: float) -> Iterator[None]:
    """Send the re-queue sweep to the workers every `every` seconds, as `celery beat` does."""
    from screening.tasks import requeue_stale_jobs

    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            with contextlib.suppress(Exception):  # a test that stops the broker stops the beat
                requeue_stale_jobs.delay()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def closed_port_url() -> str:
    """A Redis URL nothing listens on: connections are refused at once, as when Redis is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"

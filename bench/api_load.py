"""Benchmark: the REST API under concurrent load, on 10,000 patients and 30,000 images' metadata.

Seeds its own PostgreSQL database (dr_portal_bench_api: created, migrated and filled with
bulk_create the first time; no image files are needed for metadata), starts gunicorn on it, and
drives three scenarios one after another with a thread-based load generator at a fixed
concurrency, printing requests/second and p50/p95 latency of each:

- patient search: GET /api/v1/patients/?q=<name or MRN prefix>
- visit detail:   GET /api/v1/visits/<id>/            (images and gradings; audited)
- results polling: GET /api/v1/visits/<id>/results/   (audited)

    .venv/bin/python -m bench.api_load --concurrency 8 --seconds 20 --gunicorn-workers 3

`--reseed` drops and refills the database. The load generator runs on the same machine as the
server, so on a small machine the figures are a floor, not the server's ceiling.
"""

import argparse
import datetime
import http.client
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "dr_portal_bench_api"
SERVER = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
FAMILY = ["Ng", "Said", "Okafor", "Silva", "Kowalski", "Tanaka", "Haddad", "Murphy", "Rossi"]
FAMILY += ["Patel", "Nguyen", "Smith", "Garcia", "Ivanova", "Cohen", "Mensah", "Larsen", "Khan"]
GIVEN = ["Ada", "Omar", "Mary", "Yuki", "Ivan", "Grace", "Sofia", "Kwame", "Lena", "Tariq"]


def main() -> None:
    args = parse_args()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="dr_portal.settings.test",
        DATABASE_URL=f"{SERVER}/{DB_NAME}",
        API_THROTTLE_RATE="100000000/second",
    )
    sys.path.insert(0, str(ROOT))
    create_database(reseed=args.reseed)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    token, visit_ids = seed(args.patients, args.images_per_visit)
    port = free_port()
    server = start_gunicorn(port, args.gunicorn_workers)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/api/v1/token/", token)
        rng = random.Random(1)
        scenarios = {
            "patient search": lambda: f"/api/v1/patients/?q={rng.choice(FAMILY)[:3]}",
            "visit detail": lambda: f"/api/v1/visits/{rng.choice(visit_ids)}/",
            "results polling": lambda: f"/api/v1/visits/{rng.choice(visit_ids)}/results/",
        }
        print(describe(args))
        for name, next_path in scenarios.items():
            drive(base, token, next_path, args.concurrency, 2.0)  # warm-up
            result = drive(base, token, next_path, args.concurrency, args.seconds)
            print(
                f"{name:16s} {result['rps']:7.1f} req/s  p50 {result['p50']:6.1f} ms  "
                f"p95 {result['p95']:6.1f} ms  ({result['n']} requests, {result['errors']} errors)"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--images-per-visit", type=int, default=3, help="one visit per patient")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--seconds", type=float, default=20.0, help="per scenario")
    parser.add_argument("--gunicorn-workers", type=int, default=3)
    parser.add_argument("--reseed", action="store_true", help="drop and refill the database")
    return parser.parse_args()


def create_database(*, reseed: bool) -> None:
    import psycopg2

    connection = psycopg2.connect(f"{SERVER}/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        if reseed:
            cursor.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{DB_NAME}"')
    connection.close()


def seed(n_patients: int, per_visit: int) -> tuple[str, list[int]]:
    """Fill the database once (bulk_create); always issue a fresh token for this run."""
    from django.contrib.auth.models import Group

    from accounts.models import Site, User
    from accounts.services import api_token_create
    from patients.models import Patient
    from screening.models import FundusImage, GradingJob, Visit

    sites = [Site.objects.get_or_create(code=f"s{i}", name=f"Clinic {i}")[0] for i in range(4)]
    admin, _ = User.objects.get_or_create(username="bench_admin", is_staff=True)
    admin.groups.add(Group.objects.get(name="admin"))
    client, _ = User.objects.get_or_create(username="bench_camera")
    client.groups.add(Group.objects.get(name="api_client"))
    client.sites.set(sites)
    if Patient.objects.count() < n_patients:
        started = time.perf_counter()
        rng = random.Random(0)
        patients = Patient.objects.bulk_create(
            (
                Patient(
                    site=sites[i % len(sites)],
                    mrn=f"M{i:07d}",
                    given_name=rng.choice(GIVEN),
                    family_name=f"{rng.choice(FAMILY)}{i % 97}",
                    date_of_birth=datetime.date(1940 + i % 60, 1 + i % 12, 1 + i % 28),
                    created_by=admin,
                )
                for i in range(n_patients)
            ),
            batch_size=2000,
        )
        visits = Visit.objects.bulk_create(
            (
                Visit(
                    patient=p,
                    site_id=p.site_id,
                    captured_by=admin,
                    visit_date=datetime.date(2026, 1 + i % 10, 1 + i % 28),
                    status=Visit.Status.AWAITING_REVIEW,
                    ai_grade_right="1",
                    ai_grade_left="0",
                    ai_overall_grade="1",
                    ai_referable=False,
                )
                for i, p in enumerate(patients)
            ),
            batch_size=2000,
        )
        images = FundusImage.objects.bulk_create(
            (
                FundusImage(
                    id=uuid.uuid4(),
                    visit=v,
                    eye="right" if k % 2 == 0 else "left",
                    field="macula" if k < 2 else "disc",
                    file=f"bench/{v.pk}-{k}.jpg",
                    thumbnail=f"bench/{v.pk}-{k}_t.jpg",
                    sha256=f"{v.pk:056d}{k:08d}",
                    byte_size=1_500_000,
                    width=2048,
                    height=1536,
                    content_type="image/jpeg",
                    original_filename=f"IMG_{k}.jpg",
                    uploaded_by=admin,
                )
                for v in visits
                for k in range(per_visit)
            ),
            batch_size=5000,
        )
        now = datetime.datetime.now(datetime.UTC)
        GradingJob.objects.bulk_create(
            (
                GradingJob(
                    image=image,
                    model_version="bench-1.0",
                    status=GradingJob.Status.SUCCEEDED,
                    finished_at=now,
                    gradable=True,
                    predicted_grade=1,
                    probabilities=[0.1, 0.7, 0.1, 0.05, 0.05],
                    referable=False,
                    referable_probability=0.2,
                    confidence=0.7,
                )
                for image in images
            ),
            batch_size=5000,
        )
        print(
            f"seeded {len(patients)} patients, {len(visits)} visits, {len(images)} images "
            f"in {time.perf_counter() - started:.0f} s"
        )
    _, plaintext = api_token_create(
        actor=admin, user=client, name="bench", actions=["read", "write", "upload"]
    )
    visit_ids = list(Visit.objects.values_list("pk", flat=True))
    from django.db import connections

    connections.close_all()  # gunicorn's workers open their own
    return plaintext, visit_ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "dr_portal.wsgi",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_LOG_LEVEL": "WARNING"},
    )


def wait_until_up(url: str, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            get(url, token)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not start")


def get(url: str, token: str) -> int:
    """One GET on a new connection (gunicorn's sync workers close each one); raise on non-200."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            "GET", f"{parts.path}?{parts.query}", headers={"Authorization": f"Token {token}"}
        )
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"HTTP {response.status} for {parts.path}")
    return response.status


def drive(base: str, token: str, next_path, concurrency: int, seconds: float) -> dict:
    """`concurrency` threads each send requests back to back for `seconds`."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker() -> None:
        mine, failed = [], 0
        while time.perf_counter() < stop_at:
            with lock:
                path = next_path()
            started = time.perf_counter()
            try:
                get(base + path, token)
            except OSError:
                failed += 1
                continue
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "n": len(latencies),
        "errors": errors[0],
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))] * 1000,
    }


def describe(args: argparse.Namespace) -> str:
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or '?'}); "
        f"gunicorn sync workers: {args.gunicorn_workers}; client threads: {args.concurrency}; "
        f"{args.seconds:.0f} s per scenario; {args.patients} patients, "
        f"{args.patients * args.images_per_visit} images"
    )


if __name__ == "__main__":
    main()

"""Benchmark: N real fundus images through upload -> Redis -> K Celery workers -> PostgreSQL.

Prints images/second and upload-to-result latency (p50/p95) for the pipeline, and the bare model's
throughput on the same images at the same batch size, so the pipeline's overhead shows as a ratio.

    .venv/bin/python -m bench.grading_pipeline --images ../shared/data/eyepacs-natural/images \
        -n 64 --workers 1 --batch-size 8

Uses its own PostgreSQL database (dr_portal_bench, recreated) and Redis database 13.
"""

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dr_portal_bench")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")


def main() -> None:
    args = parse_args()
    media = tempfile.mkdtemp(prefix="dr_bench_media_")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="dr_portal.settings.test",
        DATABASE_URL=DB_URL,
        CELERY_BROKER_URL=BROKER,
        PRIVATE_MEDIA_ROOT=media,
        GRADING_BATCH_SIZE=str(args.batch_size),
        GRADING_BATCH_WAIT_SECONDS=str(args.batch_wait),
        GRADING_PRELOAD="1",
    )
    sys.path.insert(0, str(ROOT))
    reset_database_and_queue()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    photos = sorted(Path(args.images).glob("*.jp*g"))[: args.n + args.workers]
    if len(photos) < args.n + args.workers:
        sys.exit(f"need {args.n + args.workers} images in {args.images}")
    workers = [start_worker(i, args) for i in range(args.workers)]
    try:
        nurse, visit_for = fixtures()
        warm_up(photos[: args.workers], nurse, visit_for)
        pipeline = run_pipeline(photos[args.workers :], nurse, visit_for)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    bare = bare_model(photos[args.workers :], args.batch_size)
    report(args, pipeline, bare)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(ROOT.parent / "shared/data/eyepacs-natural/images"))
    parser.add_argument("-n", type=int, default=64, help="images to grade")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (K)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batch-wait", type=float, default=0.5, help="seconds to fill a batch")
    return parser.parse_args()


def reset_database_and_queue() -> None:
    import psycopg2
    import redis

    server, name = DB_URL.rsplit("/", 1)
    conn = psycopg2.connect(f"{server}/postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    redis.Redis.from_url(BROKER).flushdb()


def start_worker(index: int, args: argparse.Namespace) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "dr_portal", "worker", "-Q", "grading"]
    command += ["--concurrency", "1", "--loglevel", "WARNING", "-n", f"bench{index}@%h"]
    log = open(Path(tempfile.gettempdir()) / f"dr_bench_worker{index}.log", "w")  # noqa: SIM115
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def fixtures():
    from django.contrib.auth.models import Group

    from accounts.models import Site, User
    from patients.services import patient_create
    from screening.services.visits import visit_create

    site = Site.objects.create(code="bench", name="Bench Clinic")
    nurse = User.objects.create(username="bench-nurse")
    nurse.groups.add(Group.objects.get(name="nurse"))
    nurse.sites.add(site)
    patients = {}

    def visit_for(index: int):
        # Two photographs per visit (one per eye), as in a real screening.
        key = index // 2
        if key not in patients:
            patient = patient_create(
                actor=nurse,
                site=site,
                mrn=f"B{key:05d}",
                given_name="Bench",
                family_name=f"Patient{key}",
                date_of_birth=datetime.date(1960, 1, 1),
            )
            patients[key] = visit_create(actor=nurse, patient=patient)
        return patients[key], ("right" if index % 2 == 0 else "left")

    return nurse, visit_for


def upload_all(photos: list[Path], nurse, visit_for, offset: int = 0) -> list:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from screening.services.images import image_attach

    images = []
    for i, photo in enumerate(photos):
        visit, eye = visit_for(offset + i)
        upload = SimpleUploadedFile(photo.name, photo.read_bytes())
        images.append(
            image_attach(actor=nurse, visit=visit, upload=upload, eye=eye, field="macula")[0]
        )
    return images


def wait_all(images: list, timeout: float = 3600) -> None:
    from screening.models import GradingJob

    deadline = time.monotonic() + timeout
    ids = [image.pk for image in images]
    while time.monotonic() < deadline:
        open_jobs = GradingJob.objects.filter(image_id__in=ids).exclude(
            status__in=GradingJob.TERMINAL
        )
        if not open_jobs.exists():
            return
        time.sleep(0.05)
    raise TimeoutError("grading did not finish")


def warm_up(photos: list[Path], nurse, visit_for) -> None:
    """One image per worker, so model loading is not timed."""
    wait_all(upload_all(photos, nurse, visit_for, offset=100_000))


def run_pipeline(photos: list[Path], nurse, visit_for) -> dict:
    from screening.models import GradingJob

    started = time.perf_counter()
    images = upload_all(photos, nurse, visit_for)
    uploaded = time.perf_counter() - started
    wait_all(images)
    elapsed = time.perf_counter() - started
    jobs = list(GradingJob.objects.filter(image__in=images))
    latencies = sorted((j.finished_at - j.queued_at).total_seconds() for j in jobs)
    statuses = {s.label: sum(j.status == s for j in jobs) for s in GradingJob.TERMINAL}
    grading_span = max(j.finished_at for j in jobs) - min(j.started_at for j in jobs)
    return {
        "images": len(images),
        "seconds": elapsed,
        "upload_seconds": uploaded,
        "grading_span": grading_span.total_seconds(),
        "per_second": len(images) / elapsed,
        "p50": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
        "statuses": statuses,
    }


def bare_model(photos: list[Path], batch_size: int) -> dict:
    """The grader alone on the same bytes at the same batch size (warm), in this process."""
    from screening.services.grading import get_grader

    grader = get_grader()
    contents = [p.read_bytes() for p in photos]
    grader.grade(contents[:batch_size], explain=True)  # warm-up
    started = time.perf_counter()
    for i in range(0, len(contents), batch_size):
        grader.grade(contents[i : i + batch_size], explain=True)
    elapsed = time.perf_counter() - started
    return {"per_second": len(contents) / elapsed, "model_version": grader.model_version}


def report(args: argparse.Namespace, pipeline: dict, bare: dict) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.processor() or 'CPU'}"
    print(f"machine: {machine}")
    print(f"model: {bare['model_version']}; workers K={args.workers}; batch size {args.batch_size}")
    print(f"images: {pipeline['images']} ({pipeline['statuses']})")
    print(
        f"pipeline: {pipeline['per_second']:.2f} images/s; upload-to-result latency "
        f"p50 {pipeline['p50']:.2f} s, p95 {pipeline['p95']:.2f} s"
    )
    print(
        f"  of which: uploads (web side, this process) {pipeline['upload_seconds']:.1f} s; "
        f"first claim to last result {pipeline['grading_span']:.1f} s "
        f"of {pipeline['seconds']:.1f} s"
    )
    print(f"bare model (same batch size, with heatmaps): {bare['per_second']:.2f} images/s")
    print(f"pipeline / bare model throughput: {pipeline['per_second'] / bare['per_second']:.0%}")


if __name__ == "__main__":
    main()

"""The AI grading pipeline: queue a job per image, claim and grade jobs in batches on workers, store
results, re-queue what a dead worker left, and roll results up to the visit.

Concurrency is handled with compare-and-set updates (`filter(..., status=...).update(...)`),
atomic on PostgreSQL and SQLite alike: a job is claimed by one attempt, identified by a claim
token, and only that attempt may write the result. Duplicate task deliveries therefore do nothing.
While it grades, the attempt refreshes its jobs' heartbeat; the sweeper hands a job whose heartbeat
stopped (its worker process died) to another attempt, and the dead attempt can no longer write.
"""

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, connections, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from screening.models import FundusImage, GradingJob, OutcomeRule, Visit
from screening.rules import EYES, EyeGrade, eye_grade, grade_of_level, visit_summary
from screening.selectors import latest_gradings

logger = logging.getLogger(__name__)
Status = GradingJob.Status


class TransientGradingError(Exception):
    """A hiccup worth retrying (database or storage unavailable); the job goes back to the queue."""


@cache
def model_card() -> dict[str, Any]:
    """The shipped model's card (plain JSON: the web process never imports TensorFlow)."""
    path = Path(settings.GRADING_WEIGHTS_DIR) / "model_card.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def current_model_version() -> str:
    return str(model_card().get("model_version", "unversioned"))


def referable_threshold_of(job: GradingJob) -> float | None:
    """The referable threshold the job was graded at; for a grading stored before it was recorded
    (migration 0009), the card's when the job is by the shipped model; else None (unknown)."""
    if job.referable_threshold is not None:
        return job.referable_threshold
    card = model_card()
    if card.get("model_version") == job.model_version and "referable_threshold" in card:
        return float(card["referable_threshold"])
    return None


# --- queueing ---------------------------------------------------------------------------------


def grading_enqueue(*, image: FundusImage) -> GradingJob:
    """Create the job for the current model and hand it to the broker once the transaction commits.

    If the broker is down the job stays queued and `requeue_stale_jobs` sends it when it is back.
    """
    job, created = GradingJob.objects.get_or_create(
        image=image, model_version=current_model_version()
    )
    if created:
        Visit.objects.filter(
            pk=image.visit_id,
            status__in=[Visit.Status.CAPTURING, Visit.Status.AWAITING_REVIEW],
        ).update(status=Visit.Status.GRADING)
        transaction.on_commit(lambda: dispatch([job.pk]))
    return job


def regrade_images(images: Any) -> int:
    """Queue images that have no job for the current model (a new model version adds rows and
    never overwrites the old results); return how many were queued."""
    version = current_model_version()
    queued = 0
    for image in images.exclude(grading_jobs__model_version=version).iterator():
        with transaction.atomic():
            grading_enqueue(image=image)
        queued += 1
    return queued


def dispatch(job_ids: list[int]) -> int:
    """Send one grading task per job; return how many reached the broker.

    Fails fast: one connection attempt, no retries (an upload must not wait for a broker that is
    down). Jobs not sent stay queued and the sweeper sends them when the broker is back.
    """
    from screening.tasks import grade_image  # tasks import this module

    sent: list[int] = []
    try:
        with grade_image.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0)
            producer = grade_image.app.amqp.Producer(connection, auto_declare=False)
            for job_id in job_ids:
                grade_image.apply_async(args=(job_id,), producer=producer, retry=False)
                sent.append(job_id)
    except Exception as error:  # broker down or unreachable: whatever was not sent stays queued
        logger.warning(
            "broker unavailable (%s); %d grading job(s) stay queued for the sweeper",
            error,
            len(job_ids) - len(sent),
        )
    GradingJob.objects.filter(pk__in=sent).update(dispatched_at=timezone.now())
    return len(sent)


# --- claiming and grading on a worker ---------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    token: uuid.UUID
    jobs: list[GradingJob]


def claim_batch(
    *, job_id: int, token: uuid.UUID, batch_size: int, wait_seconds: float
) -> Claim | None:
    """Claim, under `token`, the job a task was sent for plus up to batch_size - 1 other queued jobs
    of the same model, waiting up to wait_seconds for the batch to fill. None when the job is not
    queued (done, or another attempt holds it)."""
    if not _claim(GradingJob.objects.filter(pk=job_id), token):
        return None
    version = GradingJob.objects.values_list("model_version", flat=True).get(pk=job_id)
    deadline = time.monotonic() + wait_seconds
    while (claimed := GradingJob.objects.filter(claim=token).count()) < batch_size:
        candidates = list(
            GradingJob.objects.filter(status=Status.QUEUED, model_version=version)
            .order_by("queued_at")
            .values_list("pk", flat=True)[: batch_size - claimed]
        )
        if candidates:
            _claim(GradingJob.objects.filter(pk__in=candidates), token)
            continue
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    jobs = list(GradingJob.objects.filter(claim=token).select_related("image").order_by("pk"))
    return Claim(token=token, jobs=jobs)


def _claim(jobs: Any, token: uuid.UUID) -> int:
    # heartbeats are on the database's clock (Now()): worker and sweeper hosts may disagree
    return jobs.filter(status=Status.QUEUED).update(
        status=Status.RUNNING,
        claim=token,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        heartbeat_at=Now(),
        worker_host=socket.gethostname()[:255],
    )


@contextmanager
def _heartbeat(token: uuid.UUID) -> Iterator[None]:
    """Refresh the heartbeat of the jobs held under `token` from a background thread, so a slow
    batch (or a long model call) is never mistaken for a dead worker. It stops with the process:
    a killed worker's jobs fall silent and the sweeper re-queues them."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.GRADING_HEARTBEAT_SECONDS):
                try:
                    GradingJob.objects.filter(claim=token, status=Status.RUNNING).update(
                        heartbeat_at=Now()
                    )
                except DatabaseError:  # a hiccup; the next beat tries again
                    logger.warning("heartbeat of claim %s failed", token, exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"grading-heartbeat-{token}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def grading_run(*, job_id: int) -> int:
    """Grade the job (and a batch of other queued jobs) with this process's model; return how many
    results were stored. Idempotent: a job that is not queued is left alone."""
    grader = get_grader()  # before claiming: no job waits as "running" while the model loads
    token = uuid.uuid4()
    with _heartbeat(token):
        claim = claim_batch(
            job_id=job_id,
            token=token,
            batch_size=settings.GRADING_BATCH_SIZE,
            wait_seconds=settings.GRADING_BATCH_WAIT_SECONDS,
        )
        if claim is None:
            logger.info("grading job %s is not queued (done or held elsewhere)", job_id)
            return 0
        try:
            readable, contents = _read_images(claim)
            results = grader.grade(contents, explain=True) if contents else []
        except TransientGradingError:
            _release(claim)
            raise
        except Exception as error:  # a bug, or a time limit: fail the batch visibly, do not loop
            logger.exception("grading batch %s failed", claim.token)
            for job in claim.jobs:
                _fail(job, claim.token, f"Grading error: {type(error).__name__}: {error}"[:2000])
            return 0
        return sum(
            _store_result(job, claim.token, result, grader)
            for job, result in zip(readable, results, strict=True)
        )


def _read_images(claim: Claim) -> tuple[list[GradingJob], list[bytes]]:
    readable, contents = [], []
    for job in claim.jobs:
        try:
            with job.image.file.open("rb") as handle:
                contents.append(handle.read())
            readable.append(job)
        except FileNotFoundError:
            _fail(job, claim.token, "The image file is missing from storage; upload it again.")
        except OSError as error:  # storage hiccup: worth retrying
            raise TransientGradingError(str(error)) from error
    return readable, contents


def _store_result(job: GradingJob, token: uuid.UUID, result: Any, grader: Any) -> int:
    if result.model_version != job.model_version:
        return _fail(
            job,
            token,
            f"This worker runs model {result.model_version}, the job asks for {job.model_version}.",
        )
    if result.quality_reason == "undecodable":
        return _fail(job, token, f"The image could not be decoded: {result.quality_detail}")
    heatmap_name = ""
    if result.heatmap_png:
        heatmap_name = job.heatmap.storage.save(
            f"{job.image_id.hex[:2]}/{job.image_id.hex}_heatmap_{job.pk}.png",
            ContentFile(result.heatmap_png),
        )
    updated = _finish(
        _held(job, token),
        job.image.visit_id,
        status=Status.SUCCEEDED,
        weights_sha256=grader.weights_sha256,
        **_model_output(result),
        **_operating_point(grader),
        gradable=bool(result.gradable),
        quality_reason=result.quality_reason or "",
        quality_detail=(result.quality_detail or "")[:255],
        heatmap=heatmap_name,
        error_reason="",
    )
    if not updated and heatmap_name:  # another attempt owns the job now; keep its result only
        job.heatmap.storage.delete(heatmap_name)
    return updated


def _model_output(result: Any) -> dict[str, Any]:
    """The model's numbers; an ungradable image has none (never a silent grade 0)."""
    if not result.gradable:
        return {"probabilities": None, "predicted_grade": None, "referable_probability": None}
    return {
        "probabilities": [round(float(p), 5) for p in result.probabilities],
        "predicted_grade": int(result.grade),
        "referable_probability": float(result.referable_probability),
        "referable": bool(result.referable),
        "confidence": float(result.confidence),
    }


def _operating_point(grader: Any) -> dict[str, Any]:
    """What the numbers mean: the referable threshold and the calibration the grader applied."""
    calibration = grader.card.get("calibration") or {}
    described = str(calibration.get("method") or "")
    if described == "temperature":
        described = f"temperature scaling, T = {float(calibration['temperature']):.2f}"
    return {
        "referable_threshold": float(grader.referable_threshold),
        "calibration": described[:80],
    }


def _held(job: GradingJob, token: uuid.UUID) -> QuerySet[GradingJob]:
    """The job, as long as the attempt holding `token` still owns it."""
    return GradingJob.objects.filter(pk=job.pk, claim=token, status=Status.RUNNING)


def _finish(jobs: QuerySet[GradingJob], visit_id: int, **fields: Any) -> int:
    """Write a job's final state (a compare-and-set on `jobs`) and roll its visit up in the same
    transaction, so a visit is never seen with every photograph graded but still "grading".

    The visit row is locked first: two workers finishing a visit's last two jobs at once take turns,
    and the second sees the first's committed result, so one of them always rolls the visit up.
    """
    with transaction.atomic():
        visit = Visit.objects.select_for_update().get(pk=visit_id)
        updated = jobs.update(finished_at=timezone.now(), **fields)
        if updated:
            visit_rollup(visit=visit)
    return updated


def _fail(job: GradingJob, token: uuid.UUID, reason: str) -> int:
    logger.warning("grading job %s failed: %s", job.pk, reason)
    _finish(_held(job, token), job.image.visit_id, status=Status.FAILED, error_reason=reason)
    return 0


def _release(claim: Claim) -> None:
    GradingJob.objects.filter(claim=claim.token, status=Status.RUNNING).update(
        status=Status.QUEUED, claim=None, started_at=None, heartbeat_at=None
    )


def fail_permanently(*, job_id: int, reason: str) -> None:
    """Give up on a job (retries exhausted, or bad input) with a reason people can read."""
    unfinished = GradingJob.objects.filter(pk=job_id).exclude(status__in=GradingJob.TERMINAL)
    visit_id = unfinished.values_list("image__visit_id", flat=True).first()
    if visit_id is not None:
        _finish(unfinished, visit_id, status=Status.FAILED, error_reason=reason[:2000])


# --- the model in this process ----------------------------------------------------------------

_grader: Any = None


def get_grader() -> Any:
    """The grader of this worker process, loaded once (after fork), never in the web process."""
    global _grader
    if _grader is None:
        from ml.grader import Grader  # imports TensorFlow

        started = time.monotonic()
        _grader = Grader.load(weights_dir=Path(settings.GRADING_WEIGHTS_DIR))
        logger.info("loaded grader %s in %.1f s", _grader.model_version, time.monotonic() - started)
    return _grader


# --- recovery -----------------------------------------------------------------------------------


def requeue_stale_jobs() -> dict[str, int]:
    """Re-queue jobs whose worker died mid-grading and re-send jobs the broker may have lost.

    Runs periodically (Celery beat). A running job is presumed lost with its worker when its
    heartbeat has been silent for GRADING_STALE_AFTER_SECONDS; jobs that kept losing their worker
    fail after GRADING_MAX_ATTEMPTS. Each change is a compare-and-set on the claim seen, so a job
    that finished or was re-claimed meanwhile is left alone.
    """
    resend_before = timezone.now() - timedelta(seconds=settings.GRADING_REDISPATCH_AFTER_SECONDS)
    silent_since = Now() - timedelta(seconds=settings.GRADING_STALE_AFTER_SECONDS)  # DB clock
    silent = Q(status=Status.RUNNING) & (
        Q(heartbeat_at__lt=silent_since) | Q(heartbeat_at__isnull=True, started_at__lt=silent_since)
    )
    reset_ids: list[int] = []
    gave_up = 0
    lost_claims = GradingJob.objects.filter(silent).values_list(
        "pk", "claim", "attempts", "image__visit_id"
    )
    for job_id, token, attempts, visit_id in lost_claims:
        still_lost = GradingJob.objects.filter(silent, pk=job_id, claim=token)
        if attempts >= settings.GRADING_MAX_ATTEMPTS:
            gave_up += _finish(
                still_lost,
                visit_id,
                status=Status.FAILED,
                error_reason="Grading stopped repeatedly before finishing "
                "(the worker was lost each time).",
            )
            continue
        if still_lost.update(status=Status.QUEUED, claim=None, started_at=None, heartbeat_at=None):
            logger.warning("grading job %s lost its worker; queued again", job_id)
            reset_ids.append(job_id)
    never_sent = Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=resend_before)
    lost = GradingJob.objects.filter(never_sent, status=Status.QUEUED)
    sent = dispatch(sorted(set(reset_ids) | set(lost.values_list("pk", flat=True))))
    return {"reset": len(reset_ids), "resent": sent, "failed": gave_up}


# --- visit roll-up ------------------------------------------------------------------------------


@transaction.atomic
def visit_rollup(*, visit: Visit) -> bool:
    """When every image of the visit has a finished job, store the AI's per-eye and overall grade
    and outcome and move the visit to awaiting review. Return whether the visit rolled up.

    The eye and overall grades follow screening.rules (`eye_grade`, `visit_summary`).
    """
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    if visit.is_locked:  # a signed report keeps the AI result it was signed with
        return False
    jobs = latest_gradings(visit)
    if not jobs or any(job is None or not job.is_finished for job in jobs.values()):
        return False
    right, left = (_eye_grade(jobs, eye) for eye in EYES)
    summary = visit_summary(right, left)
    visit.ai_grade_right, visit.ai_grade_left = right, left
    visit.ai_overall_grade = summary.overall
    visit.ai_referable = summary.referable
    visit.ai_outcome = OutcomeRule.objects.filter(key=summary.outcome_key).first()
    visit.ai_rolled_up_at = timezone.now()
    if visit.status == Visit.Status.GRADING:
        visit.status = Visit.Status.AWAITING_REVIEW
    visit.save()
    return True


def _eye_grade(jobs: dict[FundusImage, GradingJob | None], eye: str) -> EyeGrade:
    """The eye's grade from its images' latest jobs: a failed or ungradable image has none."""
    return eye_grade(
        grade_of_level(job.predicted_grade)
        if job.status == Status.SUCCEEDED and job.gradable and job.predicted_grade is not None
        else None
        for image, job in jobs.items()
        if image.eye == eye and job is not None
    )

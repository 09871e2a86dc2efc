"""The AI grading pipeline: queue a job per image, claim and grade jobs in batches on workers, store
results, re-queue what a dead worker left, and roll results up to the visit.

Concurrency is handled with compare-and-set updates (`filter(..., status=...).update(...)`),
atomic on PostgreSQL and SQLite alike: a job is claimed by one attempt, identified by a claim
token, and only that attempt may write the result. Duplicate task deliveries therefore do nothing.
"""

import json
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from screening.models import FundusImage, GradingJob, OutcomeRule, Visit

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
    """Send one grading task per job; return how many reached the broker."""
    from screening.tasks import grade_image  # tasks import this module

    sent = 0
    for job_id in job_ids:
        try:
            grade_image.apply_async(args=(job_id,), retry=False)
        except Exception:  # broker down: the job stays queued; the sweeper re-sends it
            logger.warning("broker unavailable; grading job %s stays queued", job_id, exc_info=True)
            continue
        GradingJob.objects.filter(pk=job_id).update(dispatched_at=timezone.now())
        sent += 1
    return sent


# --- claiming and grading on a worker ---------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    token: uuid.UUID
    jobs: list[GradingJob]


def claim_batch(*, job_id: int, batch_size: int, wait_seconds: float) -> Claim | None:
    """Claim the job a task was sent for plus up to batch_size - 1 other queued jobs of the same
    model, waiting up to wait_seconds for the batch to fill. None when the job is not queued (done,
    or another worker holds it)."""
    token = uuid.uuid4()
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
    return jobs.filter(status=Status.QUEUED).update(
        status=Status.RUNNING,
        claim=token,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        worker_host=socket.gethostname()[:255],
    )


def grading_run(*, job_id: int) -> int:
    """Grade the job (and a batch of other queued jobs) with this process's model; return how many
    results were stored. Idempotent: a job that is not queued is left alone."""
    claim = claim_batch(
        job_id=job_id,
        batch_size=settings.GRADING_BATCH_SIZE,
        wait_seconds=settings.GRADING_BATCH_WAIT_SECONDS,
    )
    if claim is None:
        logger.info("grading job %s is not queued (done or held elsewhere); nothing to do", job_id)
        return 0
    try:
        readable, contents = _read_images(claim)
        grader = get_grader()
        results = grader.grade(contents, explain=True) if contents else []
    except TransientGradingError:
        _release(claim)
        raise
    except Exception as error:  # a bug, or a time limit: fail the batch visibly, do not loop
        logger.exception("grading batch %s failed", claim.token)
        for job in claim.jobs:
            _fail(job, claim.token, f"Grading error: {type(error).__name__}: {error}"[:2000])
        _rollup_visits({job.image.visit_id for job in claim.jobs})
        return 0
    stored = 0
    for job, result in zip(readable, results, strict=True):
        stored += _store_result(job, claim.token, result, grader)
    _rollup_visits({job.image.visit_id for job in claim.jobs})
    return stored


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
    updated = GradingJob.objects.filter(pk=job.pk, claim=token, status=Status.RUNNING).update(
        status=Status.SUCCEEDED,
        finished_at=timezone.now(),
        weights_sha256=grader.weights_sha256,
        **_model_output(result),
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


def _fail(job: GradingJob, token: uuid.UUID, reason: str) -> int:
    logger.warning("grading job %s failed: %s", job.pk, reason)
    GradingJob.objects.filter(pk=job.pk, claim=token, status=Status.RUNNING).update(
        status=Status.FAILED, finished_at=timezone.now(), error_reason=reason
    )
    return 0


def _release(claim: Claim) -> None:
    GradingJob.objects.filter(claim=claim.token, status=Status.RUNNING).update(
        status=Status.QUEUED, claim=None, started_at=None
    )


def fail_permanently(*, job_id: int, reason: str) -> None:
    """Give up on a job (retries exhausted, or bad input) with a reason people can read."""
    GradingJob.objects.filter(pk=job_id).exclude(status__in=GradingJob.TERMINAL).update(
        status=Status.FAILED, finished_at=timezone.now(), error_reason=reason[:2000]
    )
    image_visit = GradingJob.objects.filter(pk=job_id).values_list("image__visit_id", flat=True)
    _rollup_visits(set(image_visit))


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
    """Re-send jobs the broker may have lost and reset jobs whose worker died mid-grading.

    Runs periodically (Celery beat). Jobs that kept killing workers fail after GRADING_MAX_ATTEMPTS.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.GRADING_STALE_AFTER_SECONDS)
    resend_before = now - timedelta(seconds=settings.GRADING_REDISPATCH_AFTER_SECONDS)
    running = GradingJob.objects.filter(status=Status.RUNNING, started_at__lt=stale)
    exhausted = running.filter(attempts__gte=settings.GRADING_MAX_ATTEMPTS)
    gave_up = list(exhausted.values_list("pk", flat=True))
    GradingJob.objects.filter(pk__in=gave_up, status=Status.RUNNING).update(
        status=Status.FAILED,
        finished_at=now,
        error_reason="Grading stopped repeatedly before finishing (the worker was lost each time).",
    )
    reset_ids = list(running.values_list("pk", flat=True))
    GradingJob.objects.filter(pk__in=reset_ids, status=Status.RUNNING).update(
        status=Status.QUEUED, claim=None, started_at=None
    )
    never_sent = Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=resend_before)
    lost = GradingJob.objects.filter(never_sent, status=Status.QUEUED)
    sent = dispatch(sorted(set(reset_ids) | set(lost.values_list("pk", flat=True))))
    if gave_up:
        visits = GradingJob.objects.filter(pk__in=gave_up).values_list("image__visit_id", flat=True)
        _rollup_visits(set(visits))
    return {"reset": len(reset_ids), "resent": sent, "failed": len(gave_up)}


# --- visit roll-up ------------------------------------------------------------------------------


def _rollup_visits(visit_ids: set[int]) -> None:
    for visit in Visit.objects.filter(pk__in=visit_ids):
        visit_rollup(visit=visit)


@transaction.atomic
def visit_rollup(*, visit: Visit) -> bool:
    """When every image of the visit has a finished job, store the AI's per-eye and overall grade
    and outcome and move the visit to awaiting review. Return whether the visit rolled up.

    Eye grade: the worst gradable image; U when the eye has no gradable image. Overall: the worse
    eye; U when an eye is U unless the other eye is referable (a referable eye is never hidden).
    """
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    if visit.is_locked:  # a signed report keeps the AI result it was signed with
        return False
    jobs = latest_jobs(visit)
    if not jobs or any(job is None or not job.is_finished for job in jobs.values()):
        return False
    eye_grades = {}
    for eye in ("right", "left"):
        grades = [
            job.predicted_grade
            for image, job in jobs.items()
            if job is not None
            and image.eye == eye
            and job.status == Status.SUCCEEDED
            and job.gradable
            and job.predicted_grade is not None
        ]
        eye_grades[eye] = max(grades) if grades else None
    overall, referable, outcome_key = summarise(eye_grades["right"], eye_grades["left"])
    visit.ai_grade_right = _code(eye_grades["right"])
    visit.ai_grade_left = _code(eye_grades["left"])
    visit.ai_overall_grade = _code(overall)
    visit.ai_referable = referable
    visit.ai_outcome = OutcomeRule.objects.filter(key=outcome_key).first()
    visit.ai_rolled_up_at = timezone.now()
    if visit.status == Visit.Status.GRADING:
        visit.status = Visit.Status.AWAITING_REVIEW
    visit.save()
    return True


def summarise(right: int | None, left: int | None) -> tuple[int | None, bool | None, str]:
    """(overall grade or None for U, referable or None when unknown, outcome key)."""
    gradable = [g for g in (right, left) if g is not None]
    worst = max(gradable) if gradable else None
    if worst is not None and worst >= 2:
        return worst, True, str(worst)
    if right is None or left is None:
        return None, None, "U"
    return worst, False, str(worst)


def _code(grade: int | None) -> str:
    return "U" if grade is None else str(grade)


def latest_jobs(visit: Visit) -> dict[FundusImage, GradingJob | None]:
    """Each image of the visit with its most recent grading job (None if it has none)."""
    images = list(visit.images.prefetch_related("grading_jobs"))
    return {
        image: max(image.grading_jobs.all(), key=lambda job: job.queued_at, default=None)
        for image in images
    }

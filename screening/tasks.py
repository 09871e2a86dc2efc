"""Thin Celery wrappers: each task takes primary keys and calls one service."""

import logging

from celery import Task, shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from screening.services import grading

logger = logging.getLogger(__name__)
TRANSIENT = (OperationalError, InterfaceError, grading.TransientGradingError)


@shared_task(
    bind=True,
    acks_late=True,  # safe: grading_run is idempotent
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
    soft_time_limit=600,
    time_limit=660,
)
def grade_image(self: Task, job_id: int) -> int:
    """Grade the image of a GradingJob (batching other queued jobs with it when configured)."""
    try:
        return grading.grading_run(job_id=job_id)
    except TRANSIENT:
        if self.max_retries is not None and self.request.retries >= self.max_retries:
            grading.fail_permanently(job_id=job_id, reason="Gave up after repeated errors.")
        raise
    except DatabaseError:
        raise
    except Exception as error:  # a bug or bad input: fail with the reason instead of looping
        logger.exception("grading job %s failed permanently", job_id)
        grading.fail_permanently(job_id=job_id, reason=f"{type(error).__name__}: {error}")
        return 0


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def requeue_stale_jobs() -> dict[str, int]:
    """Periodic (Celery beat): re-send lost jobs and reset those of dead workers."""
    return grading.requeue_stale_jobs()

"""Upload -> Redis -> a real Celery worker process -> PostgreSQL, with the shipped model."""

import hashlib
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from screening.models import FundusImage, GradingJob, Visit
from screening.services import grading
from screening.services.images import image_attach
from screening.tasks import grade_image
from tests.workers import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]
Status = GradingJob.Status
SAMPLES = sorted((settings.BASE_DIR / "ml" / "samples").glob("*.jp*g"))


def upload(nurse, visit, sample: Path, eye: str) -> FundusImage:
    photo = SimpleUploadedFile(sample.name, sample.read_bytes())
    image, _ = image_attach(actor=nurse, visit=visit, upload=photo, eye=eye, field="macula")
    return image


def job_of(image: FundusImage) -> GradingJob:
    return GradingJob.objects.get(image=image)


def test_upload_is_graded_by_a_worker_and_the_visit_rolls_up(start_worker, nurse, visit):
    # A batch that waits for more images keeps the job visibly "running" for a moment.
    start_worker(GRADING_BATCH_SIZE="4", GRADING_BATCH_WAIT_SECONDS="3")
    right = upload(nurse, visit, SAMPLES[0], "right")
    assert job_of(right).status == Status.QUEUED
    left = upload(nurse, visit, SAMPLES[1], "left")

    seen = {job_of(right).status}
    wait_for(lambda: seen.add(job_of(right).status) or job_of(right).is_finished, what="grading")
    assert {Status.QUEUED, Status.RUNNING, Status.SUCCEEDED} <= seen
    wait_for(lambda: job_of(left).is_finished, what="second image")

    for image in (right, left):
        job = job_of(image)
        assert job.status == Status.SUCCEEDED, job.error_reason
        assert job.attempts == 1 and job.worker_host
        assert job.model_version == grading.current_model_version() != "unversioned"
        assert len(job.weights_sha256) == 64
        assert len(job.probabilities) == 5 and abs(sum(job.probabilities) - 1) < 1e-3
        assert job.gradable is not None and job.started_at <= job.finished_at
        if job.gradable:
            assert job.predicted_grade in range(5) and job.heatmap.storage.exists(job.heatmap.name)
    visit.refresh_from_db()  # rolled up in the transaction that stored the last result
    assert visit.status == Visit.Status.AWAITING_REVIEW
    assert visit.ai_overall_grade in {"0", "1", "2", "3", "4", "U"} and visit.ai_outcome


def test_duplicate_delivery_leaves_one_result_and_corrupt_image_fails(start_worker, nurse, visit):
    start_worker()
    image = upload(nurse, visit, SAMPLES[0], "right")
    wait_for(lambda: job_of(image).is_finished, what="grading")
    first = job_of(image)

    grade_image.delay(first.pk)  # the broker delivers the same task twice more
    grade_image.delay(first.pk)
    corrupt = corrupt_image_on(visit, nurse)
    wait_for(lambda: job_of(corrupt).is_finished, what="the corrupt image")

    again = job_of(image)
    assert (again.attempts, again.finished_at, again.probabilities) == (
        first.attempts,
        first.finished_at,
        first.probabilities,
    )
    assert GradingJob.objects.filter(image=image).count() == 1
    failed = job_of(corrupt)
    assert failed.status == Status.FAILED and "could not be decoded" in failed.error_reason
    visit.refresh_from_db()
    assert visit.ai_grade_left == "U"  # a failed image never counts as grade 0


def corrupt_image_on(visit: Visit, nurse) -> FundusImage:
    """An image whose stored bytes were damaged after upload (validation cannot catch this)."""
    data = b"\xff\xd8\xff\xe0" + b"garbage" * 100
    image = FundusImage(
        id=uuid.uuid4(),
        visit=visit,
        eye="left",
        field="macula",
        sha256=hashlib.sha256(data).hexdigest(),
        byte_size=len(data),
        width=512,
        height=512,
        content_type="image/jpeg",
        original_filename="damaged.jpg",
        uploaded_by=nurse,
    )
    with transaction.atomic():
        image.file.save(f"{image.id.hex}.jpg", ContentFile(data), save=False)
        image.thumbnail.save(f"{image.id.hex}_t.jpg", ContentFile(data), save=False)
        image.save()
        grading.grading_enqueue(image=image)
    return image

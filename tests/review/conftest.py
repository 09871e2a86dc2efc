"""Graded visits for the doctors' review tests: GradingJob rows written directly and rolled up (no
Celery or TensorFlow), and more doctors at the home site for the two-reader workflow."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw

from screening.models import GradingJob, Visit
from screening.services.grading import visit_rollup
from screening.services.images import image_attach
from tests.factories import UserFactory, VisitFactory, fundus_like_jpeg

PASSWORD = "correct-horse-battery"  # UserFactory's password


def probabilities_for(grade: int, confidence: float = 0.8) -> list[float]:
    rest = round((1 - confidence) / 4, 5)
    return [confidence if g == grade else rest for g in range(5)]


def heatmap_png(size: int = 256, seed: int = 0) -> bytes:
    image = Image.new("RGB", (size, size), (0, 0, 80 + seed % 150))
    ImageDraw.Draw(image).ellipse([size // 3, size // 3, size // 2, size // 2], fill="red")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def make_graded_visit(
    *,
    nurse,
    patient,
    right: int | None = 0,
    left: int | None = 0,
    confidence: float = 0.8,
    heatmaps: bool = False,
) -> Visit:
    """A visit with one photograph per eye, graded by the AI (None: ungradable), rolled up;
    gradable images get a heatmap file when `heatmaps`."""
    visit = VisitFactory(patient=patient, captured_by=nurse, camera="Topcon TRC-NW400")
    for seed, (eye, grade) in enumerate((("right", right), ("left", left))):
        upload = SimpleUploadedFile(f"{eye}.jpg", fundus_like_jpeg(seed=seed + 10))
        image, _ = image_attach(actor=nurse, visit=visit, upload=upload, eye=eye, field="macula")
        gradable = grade is not None
        GradingJob.objects.filter(image=image).update(
            status=GradingJob.Status.SUCCEEDED,
            model_version="test-model-1.0",
            gradable=gradable,
            quality_reason="" if gradable else "blur",
            quality_detail="" if gradable else "Out of focus",
            predicted_grade=grade,
            probabilities=probabilities_for(grade, confidence) if gradable else None,
            referable_probability=(confidence if grade >= 2 else 1 - confidence)
            if gradable
            else None,
            referable=grade >= 2 if gradable else None,
            confidence=confidence if gradable else None,
        )
    if heatmaps:
        for job in GradingJob.objects.filter(image__visit=visit, gradable=True):
            png = ContentFile(heatmap_png(seed=job.pk))
            name = job.heatmap.storage.save(f"hm/{job.pk}.png", png)
            GradingJob.objects.filter(pk=job.pk).update(heatmap=name)
    assert visit_rollup(visit=visit)
    visit.refresh_from_db()
    return visit


@pytest.fixture
def graded_visit(nurse, patient):
    return make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)


@pytest.fixture
def doctor2(site):
    return UserFactory(username="doctor2", roles=["doctor"], sites=[site], last_name="Second")


@pytest.fixture
def doctor3(site):
    return UserFactory(username="doctor3", roles=["doctor"], sites=[site], last_name="Third")


def read_visit(doctor, visit, right="0", left="0", *, dme="absent", submit=True, **submit_kwargs):
    """A doctor's whole reading through the services: each eye ('U' = ungradable), then submit."""
    from screening.services.review import eye_reading_record, review_start, review_submit

    review = review_start(actor=doctor, visit=visit)
    for eye, code in (("right", right), ("left", left)):
        eye_reading_record(
            actor=doctor,
            review=review,
            eye=eye,
            gradable=code != "U",
            grade="" if code == "U" else code,
            dme="not_assessable" if code == "U" else dme,
            ungradable_reason="Media opacity" if code == "U" else "",
        )
    if submit:
        review = review_submit(actor=doctor, review=review, **submit_kwargs)
    return review

"""Visit roll-up of per-image AI results (CLINICAL.md: worst gradable image per eye, worse eye per
visit, ungradable never becomes grade 0)."""

from django.core.files.uploadedfile import SimpleUploadedFile

from screening.models import GradingJob, Visit
from screening.services.grading import visit_rollup
from screening.services.images import image_attach
from tests.factories import fundus_like_jpeg

Status = GradingJob.Status


def graded_image(nurse, visit, eye, *, grade=None, gradable=True, status=Status.SUCCEEDED, seed=0):
    upload = SimpleUploadedFile(f"{eye}{seed}.jpg", fundus_like_jpeg(seed=seed))
    image, _ = image_attach(actor=nurse, visit=visit, upload=upload, eye=eye, field="macula")
    GradingJob.objects.filter(image=image).update(
        status=status,
        gradable=gradable if status == Status.SUCCEEDED else None,
        predicted_grade=grade if gradable else None,
    )
    return image


def test_upload_queues_a_job_and_marks_the_visit_grading(nurse, visit):
    upload = SimpleUploadedFile("a.jpg", fundus_like_jpeg())
    image, _ = image_attach(actor=nurse, visit=visit, upload=upload, eye="left", field="macula")
    job = GradingJob.objects.get(image=image)
    visit.refresh_from_db()
    assert job.status == Status.QUEUED and job.attempts == 0
    assert visit.status == Visit.Status.GRADING


def test_visit_waits_until_every_image_has_a_result(nurse, visit):
    graded_image(nurse, visit, "right", grade=1)
    graded_image(nurse, visit, "left", grade=0, status=Status.RUNNING, seed=1)
    assert visit_rollup(visit=visit) is False
    visit.refresh_from_db()
    assert visit.status == Visit.Status.GRADING and visit.ai_rolled_up_at is None


def test_eye_grade_is_the_worst_gradable_image_and_visit_the_worse_eye(nurse, visit):
    graded_image(nurse, visit, "right", grade=1, seed=1)
    graded_image(nurse, visit, "right", grade=3, seed=2)
    graded_image(nurse, visit, "right", gradable=False, seed=3)
    graded_image(nurse, visit, "left", grade=2, seed=4)
    assert visit_rollup(visit=visit)
    visit.refresh_from_db()
    assert (visit.ai_grade_right, visit.ai_grade_left, visit.ai_overall_grade) == ("3", "2", "3")
    assert visit.ai_referable is True
    assert visit.ai_outcome.key == "3" and "within ~4 weeks" in visit.ai_outcome.label
    assert visit.status == Visit.Status.AWAITING_REVIEW


def test_ungradable_eye_makes_the_outcome_reimage_not_normal(nurse, visit):
    graded_image(nurse, visit, "right", grade=0, seed=1)
    graded_image(nurse, visit, "left", gradable=False, seed=2)
    visit_rollup(visit=visit)
    visit.refresh_from_db()
    assert (visit.ai_grade_right, visit.ai_grade_left, visit.ai_overall_grade) == ("0", "U", "U")
    assert visit.ai_referable is None
    assert visit.ai_outcome.key == "U" and "Re-image" in visit.ai_outcome.label


def test_failed_job_counts_as_ungradable_eye(nurse, visit):
    graded_image(nurse, visit, "right", grade=0, seed=1)
    graded_image(nurse, visit, "left", status=Status.FAILED, seed=2)
    visit_rollup(visit=visit)
    visit.refresh_from_db()
    assert visit.ai_grade_left == "U" and visit.ai_outcome.key == "U"


def test_missing_eye_is_ungradable(nurse, visit):
    graded_image(nurse, visit, "right", grade=0)
    visit_rollup(visit=visit)
    visit.refresh_from_db()
    assert visit.ai_grade_left == "U" and visit.ai_overall_grade == "U"


def test_outcome_table_is_data(nurse, visit):
    from screening.models import OutcomeRule

    OutcomeRule.objects.filter(key="0").update(label="Rescreen in 24 months", recall_months=24)
    graded_image(nurse, visit, "right", grade=0, seed=1)
    graded_image(nurse, visit, "left", grade=0, seed=2)
    visit_rollup(visit=visit)
    visit.refresh_from_db()
    assert visit.ai_outcome.label == "Rescreen in 24 months"

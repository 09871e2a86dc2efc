"""The grading service in-process with a tiny real Keras grader (tests.ml.tiny.build_tiny_grader):
batch claiming, idempotence, failure handling and the stale-job sweeper."""

import datetime
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from screening.models import GradingJob, Visit
from screening.services import grading
from screening.services.images import image_attach
from tests.factories import fundus_like_jpeg

Status = GradingJob.Status


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    from tests.ml.tiny import build_tiny_grader

    folder = tmp_path_factory.mktemp("tiny_weights")
    build_tiny_grader(folder)
    return folder


@pytest.fixture(autouse=True)
def tiny_grader(tiny_weights, settings):
    settings.GRADING_WEIGHTS_DIR = str(tiny_weights)
    settings.GRADING_BATCH_WAIT_SECONDS = 0
    grading.model_card.cache_clear()
    grading._grader = None
    yield
    grading.model_card.cache_clear()
    grading._grader = None


def upload(nurse, visit, seed: int, eye: str = "right"):
    photo = SimpleUploadedFile(f"{seed}.jpg", fundus_like_jpeg(seed=seed))
    return image_attach(actor=nurse, visit=visit, upload=photo, eye=eye, field="macula")[0]


def test_one_task_grades_a_batch_of_queued_jobs(nurse, visit, settings):
    settings.GRADING_BATCH_SIZE = 8
    images = [upload(nurse, visit, seed, eye) for seed, eye in [(1, "right"), (2, "left")]]
    first = images[0].grading_jobs.get()
    assert first.model_version == "tiny-test-0"

    assert grading.grading_run(job_id=first.pk) == 2
    jobs = GradingJob.objects.filter(image__in=images)
    assert {j.status for j in jobs} == {Status.SUCCEEDED}
    assert len({j.claim for j in jobs}) == 1 and all(j.attempts == 1 for j in jobs)
    visit.refresh_from_db()
    assert visit.status == Visit.Status.AWAITING_REVIEW


def test_batch_size_limits_the_claim(nurse, visit, settings):
    settings.GRADING_BATCH_SIZE = 1
    first, second = upload(nurse, visit, 1), upload(nurse, visit, 2)
    assert grading.grading_run(job_id=first.grading_jobs.get().pk) == 1
    assert second.grading_jobs.get().status == Status.QUEUED


def test_second_delivery_of_a_finished_job_does_nothing(nurse, visit):
    job = upload(nurse, visit, 1).grading_jobs.get()
    grading.grading_run(job_id=job.pk)
    before = GradingJob.objects.get(pk=job.pk)
    assert grading.grading_run(job_id=job.pk) == 0
    after = GradingJob.objects.get(pk=job.pk)
    assert (after.attempts, after.finished_at) == (before.attempts, before.finished_at)


def test_grader_error_fails_the_batch_with_the_reason(nurse, visit, monkeypatch):
    job = upload(nurse, visit, 1).grading_jobs.get()
    grader = grading.get_grader()

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(grader, "grade", broken)
    assert grading.grading_run(job_id=job.pk) == 0
    job.refresh_from_db()
    assert job.status == Status.FAILED and "out of memory" in job.error_reason


def test_storage_hiccup_puts_the_job_back_in_the_queue(nurse, visit, monkeypatch):
    image = upload(nurse, visit, 1)
    job = image.grading_jobs.get()

    def flaky_open(self, mode="rb"):
        raise OSError("NFS server not responding")

    monkeypatch.setattr(type(image.file), "open", flaky_open)
    with pytest.raises(grading.TransientGradingError):
        grading.grading_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.claim is None


def test_missing_file_fails_permanently(nurse, visit):
    image = upload(nurse, visit, 1)
    image.file.storage.delete(image.file.name)
    job = image.grading_jobs.get()
    grading.grading_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == Status.FAILED and "missing from storage" in job.error_reason


def test_sweeper_requeues_stale_and_fails_exhausted_jobs(nurse, visit, settings, monkeypatch):
    sent: list[list[int]] = []
    monkeypatch.setattr(grading, "dispatch", lambda ids: sent.append(ids) or len(ids))
    settings.GRADING_STALE_AFTER_SECONDS, settings.GRADING_MAX_ATTEMPTS = 60, 3
    long_ago = timezone.now() - datetime.timedelta(minutes=5)
    stale = upload(nurse, visit, 1).grading_jobs.get()
    exhausted = upload(nurse, visit, 2).grading_jobs.get()
    fresh = upload(nurse, visit, 3).grading_jobs.get()
    GradingJob.objects.filter(pk=stale.pk).update(
        status=Status.RUNNING, started_at=long_ago, attempts=1, dispatched_at=long_ago
    )
    GradingJob.objects.filter(pk=exhausted.pk).update(
        status=Status.RUNNING, started_at=long_ago, attempts=3, dispatched_at=long_ago
    )
    GradingJob.objects.filter(pk=fresh.pk).update(dispatched_at=timezone.now())

    result = grading.requeue_stale_jobs()
    assert result == {"reset": 1, "resent": 1, "failed": 1}
    assert sent == [[stale.pk]]  # the fresh queued job was dispatched recently: left alone
    stale.refresh_from_db(), exhausted.refresh_from_db()
    assert stale.status == Status.QUEUED and stale.claim is None
    assert exhausted.status == Status.FAILED and "repeatedly" in exhausted.error_reason


def test_sweeper_sends_jobs_that_never_reached_the_broker(nurse, visit, monkeypatch):
    sent: list[list[int]] = []
    monkeypatch.setattr(grading, "dispatch", lambda ids: sent.append(ids) or len(ids))
    job = upload(nurse, visit, 1).grading_jobs.get()  # on_commit never ran: dispatched_at empty
    assert grading.requeue_stale_jobs()["resent"] == 1 and sent == [[job.pk]]


def test_regrading_with_a_new_model_adds_rows_and_keeps_the_old(nurse, visit):
    from django.core.management import call_command

    image = upload(nurse, visit, 1)
    GradingJob.objects.filter(image=image).update(
        model_version="old-model-1", status=Status.SUCCEEDED, gradable=True, predicted_grade=3
    )
    call_command("regrade", visit=[visit.pk], stdout=io.StringIO())
    versions = dict(image.grading_jobs.values_list("model_version", "status"))
    assert versions == {"old-model-1": Status.SUCCEEDED, "tiny-test-0": Status.QUEUED}
    assert grading.regrade_images(visit.images.all()) == 0  # already queued: nothing new


def test_signed_visit_keeps_the_ai_result_it_was_signed_with(nurse, visit):
    job = upload(nurse, visit, 1).grading_jobs.get()
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.SIGNED, ai_overall_grade="1")
    grading.grading_run(job_id=job.pk)
    visit.refresh_from_db()
    assert visit.ai_overall_grade == "1" and visit.status == Visit.Status.SIGNED

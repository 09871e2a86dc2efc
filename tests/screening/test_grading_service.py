"""The grading service in-process with a tiny real Keras grader (tests.ml.tiny.build_tiny_grader):
batch claiming, idempotence, failure handling and the stale-job sweeper."""

import datetime
import io
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.utils import timezone

from screening.models import GradingJob, Visit
from screening.services import grading
from screening.services.images import image_attach
from tests.factories import fundus_like_jpeg
from tests.workers import closed_port_url

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


def test_sweeper_requeues_by_silence_not_by_age(nurse, visit, settings, monkeypatch):
    monkeypatch.setattr(grading, "dispatch", lambda ids: len(ids))
    settings.GRADING_STALE_AFTER_SECONDS = 30
    now = timezone.now()
    slow_but_alive = upload(nurse, visit, 1).grading_jobs.get()
    silent = upload(nurse, visit, 2).grading_jobs.get()
    for job, heartbeat in [(slow_but_alive, now), (silent, now - datetime.timedelta(seconds=40))]:
        GradingJob.objects.filter(pk=job.pk).update(
            status=Status.RUNNING,
            attempts=1,
            started_at=now - datetime.timedelta(minutes=20),
            heartbeat_at=heartbeat,
            dispatched_at=now,
        )

    assert grading.requeue_stale_jobs()["reset"] == 1
    slow_but_alive.refresh_from_db(), silent.refresh_from_db()
    assert slow_but_alive.status == Status.RUNNING
    assert silent.status == Status.QUEUED and silent.claim is None and silent.heartbeat_at is None


@pytest.mark.django_db(transaction=True)
def test_heartbeat_keeps_a_long_batch_from_being_requeued(nurse, visit, settings, monkeypatch):
    """A batch that grades for longer than the silence limit refreshes its claim from a background
    thread; the sweeper, running meanwhile, leaves it alone, and the result is stored once."""
    settings.GRADING_HEARTBEAT_SECONDS, settings.GRADING_STALE_AFTER_SECONDS = 0.1, 0.5
    monkeypatch.setattr(grading, "dispatch", lambda ids: len(ids))
    job = upload(nurse, visit, 1).grading_jobs.get()
    grader = grading.get_grader()
    real_grade = grader.grade
    sweeps = []

    def slow_grade(*args, **kwargs):
        time.sleep(1.5)  # three silence limits
        sweeps.append(grading.requeue_stale_jobs())
        return real_grade(*args, **kwargs)

    monkeypatch.setattr(grader, "grade", slow_grade)
    assert grading.grading_run(job_id=job.pk) == 1
    assert sweeps == [{"reset": 0, "resent": 0, "failed": 0}]
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.attempts == 1
    assert job.heartbeat_at > job.started_at + datetime.timedelta(seconds=1)


@pytest.mark.django_db(transaction=True)
def test_dispatch_to_an_unreachable_broker_fails_at_once_and_leaves_the_job_queued(
    nurse, visit, monkeypatch
):
    job = upload(nurse, visit, 1).grading_jobs.get()  # sent after commit: Redis is up
    GradingJob.objects.filter(pk=job.pk).update(dispatched_at=None)
    monkeypatch.setenv("CELERY_BROKER_URL", closed_port_url())
    started = time.monotonic()
    assert grading.dispatch([job.pk]) == 0
    assert time.monotonic() - started < 1  # was 6 s: three connection attempts with back-off
    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.dispatched_at is None


@pytest.mark.django_db(transaction=True)
def test_no_reader_sees_a_visit_graded_but_still_grading(nurse, visit, settings, monkeypatch):
    """The result of a visit's last photograph and the visit roll-up commit together: another
    connection (a page load) looking just before the roll-up never sees every photograph graded
    while the visit is still "grading"."""
    settings.GRADING_BATCH_SIZE = 1
    images = [upload(nurse, visit, seed, eye) for seed, eye in [(1, "right"), (2, "left")]]
    seen: list[tuple[set[str], str]] = []

    def look_from_another_connection() -> None:
        def read() -> None:
            try:
                jobs = GradingJob.objects.filter(image__in=images).values_list("status", flat=True)
                seen.append((set(jobs), Visit.objects.values_list("status", flat=True).get()))
            finally:
                connections.close_all()

        reader = threading.Thread(target=read)
        reader.start()
        reader.join()

    rollup = grading.visit_rollup

    def rollup_watched(*, visit):
        look_from_another_connection()
        return rollup(visit=visit)

    monkeypatch.setattr(grading, "visit_rollup", rollup_watched)
    for image in images:
        grading.grading_run(job_id=image.grading_jobs.get().pk)
    look_from_another_connection()
    assert len(seen) == 3
    assert [status for jobs, status in seen if jobs == {Status.SUCCEEDED}] == [
        Visit.Status.AWAITING_REVIEW
    ]

"""What people see of grading: per-image status and results on the visit page (also as the live
fragment the page polls), heatmaps behind the authorising view, and the staff pipeline page."""

import datetime

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from screening.models import GradingJob
from screening.services.images import image_attach
from tests.conftest import login
from tests.factories import fundus_like_jpeg

Status = GradingJob.Status


def uploaded(nurse, visit, seed=0):
    upload = SimpleUploadedFile(f"p{seed}.jpg", fundus_like_jpeg(seed=seed))
    return image_attach(actor=nurse, visit=visit, upload=upload, eye="right", field="macula")[0]


def succeed(job: GradingJob, grade=2, gradable=True) -> GradingJob:
    now = timezone.now()
    job.heatmap.save(f"{job.image_id.hex}_heatmap.png", ContentFile(b"\x89PNG fake"), save=False)
    job.status, job.gradable, job.predicted_grade = Status.SUCCEEDED, gradable, grade
    job.probabilities = [0.1, 0.2, 0.5, 0.15, 0.05]
    job.referable, job.referable_probability, job.confidence = True, 0.7, 0.5
    job.started_at, job.finished_at = now - datetime.timedelta(seconds=3), now
    job.save()
    return job


def test_live_fragment_polls_while_queued_and_stops_when_done(nurse_client, nurse, visit):
    image = uploaded(nurse, visit)
    url = reverse("screening:visit_images_live", kwargs={"pk": visit.pk})
    queued = nurse_client.get(url).content.decode()
    assert 'data-polling="true"' in queued and "Queued for grading" in queued
    succeed(image.grading_jobs.get())
    done = nurse_client.get(url)
    assert 'data-polling="false"' in done.content.decode()
    assert done["Cache-Control"] == "no-store"


def test_result_shows_grade_probabilities_and_heatmap_toggle(nurse_client, nurse, visit):
    image = uploaded(nurse, visit)
    succeed(image.grading_jobs.get())
    page = nurse_client.get(reverse("screening:visit_detail", kwargs={"pk": visit.pk}))
    html = page.content.decode()
    assert "Refer: yes</strong> · P(referable) 70%, threshold 12%" in html  # the card's threshold
    assert "Most likely grade: <strong>2 · Moderate NPDR</strong> (50%)" in html
    assert html.count("<meter") == 5 and 'value="0.5000"' in html
    assert reverse("screening:image_heatmap", kwargs={"pk": image.pk}) in html


def test_ungradable_and_failed_are_shown_with_their_reason(nurse_client, nurse, visit):
    ungradable = uploaded(nurse, visit, seed=1).grading_jobs.get()
    succeed(ungradable, gradable=False)
    GradingJob.objects.filter(pk=ungradable.pk).update(quality_detail="The image is too blurred.")
    failed = uploaded(nurse, visit, seed=2).grading_jobs.get()
    GradingJob.objects.filter(pk=failed.pk).update(
        status=Status.FAILED, error_reason="The image could not be decoded: truncated"
    )
    html = nurse_client.get(reverse("screening:visit_detail", kwargs={"pk": visit.pk})).content
    assert b"Ungradable" in html and b"too blurred" in html
    assert b"Grading failed" in html and b"could not be decoded" in html


def test_heatmap_is_served_only_inside_the_site(nurse, outsider, visit):
    image = uploaded(nurse, visit)
    succeed(image.grading_jobs.get())
    url = reverse("screening:image_heatmap", kwargs={"pk": image.pk})
    response = login(nurse).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert login(outsider).get(url).status_code == 404


def test_staff_page_shows_jobs_per_status_and_latency(admin_user, nurse, visit):
    succeed(uploaded(nurse, visit, seed=1).grading_jobs.get())
    uploaded(nurse, visit, seed=2)
    page = login(admin_user).get(reverse("screening:grading_dashboard"))
    counts = dict(page.context["counts"])
    assert counts["Queued"] == 1 and counts["Done"] == 1
    assert page.context["finished_recently"] == 1 and page.context["latency_p50"] is not None
    assert page.context["queue_depth"] is not None  # the real Redis answers

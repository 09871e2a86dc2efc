"""One rule for "the latest grading of each image" (screening.selectors.latest_grading): the most
recently queued job, the newest one on a tie. The roll-up, sign-off, the visit and review pages,
the API's image answers and the results endpoint all follow it."""

import datetime
import re
from html import unescape

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from screening.models import FundusImage, GradingJob, Visit
from screening.selectors import (
    eyes_with_results,
    get_visit_with_images_for_user,
    latest_grading,
    latest_gradings,
    with_gradings,
)
from screening.services.grading import visit_rollup
from screening.services.review import review_sign_off
from tests.conftest import login
from tests.factories import PASSWORD, heatmap_png, make_graded_visit, read_visit

pytestmark = pytest.mark.django_db
Status = GradingJob.Status


def another_grading(image: FundusImage, *, seconds_later: float, **fields: object) -> GradingJob:
    """A grading of the image by another model version, queued `seconds_later` than the first."""
    first = image.grading_jobs.order_by("pk").first()
    version = f"model-{image.grading_jobs.count() + 1}"
    job = GradingJob.objects.create(image=image, model_version=version, **fields)
    queued_at = first.queued_at + datetime.timedelta(seconds=seconds_later)
    GradingJob.objects.filter(pk=job.pk).update(queued_at=queued_at)
    return job


def succeeded(grade: int) -> dict[str, object]:
    return {"status": Status.SUCCEEDED, "gradable": True, "predicted_grade": grade}


def latest_everywhere(api, user, visit: Visit, image: FundusImage) -> dict[str, object]:
    """Which job each reader takes as the image's latest (by model version)."""
    rows = [row for _, eye_rows in eyes_with_results(visit) for row in eye_rows]
    visit_page = next(row.job for row in rows if row.image.pk == image.pk)
    api_visit = get_visit_with_images_for_user(user, visit.pk)
    prefetched = next(i for i in api_visit.image_list if i.pk == image.pk)
    image_answer = api.get(reverse("api:image-detail", kwargs={"pk": image.pk})).json()
    results = api.get(reverse("api:visit-results", kwargs={"pk": visit.pk})).json()
    in_results = next(i for i in results["images"] if i["id"] == str(image.pk))
    return {
        "selector": latest_grading(image).model_version,
        "prefetched": latest_grading(with_gradings(FundusImage.objects.filter(pk=image.pk))[0]),
        "roll-up and sign-off": latest_gradings(visit)[image].model_version,
        "visit page": visit_page.model_version,
        "api prefetch": latest_grading(prefetched).model_version,
        "api image": image_answer["grading"]["model_version"],
        "api results": in_results["grading"]["model_version"],
    }


def test_the_most_recently_queued_grading_is_the_latest_everywhere(
    api, api_client_user, nurse, patient
):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)
    image = visit.images.get(eye="right")
    newer = another_grading(image, seconds_later=60, **succeeded(3))
    another_grading(image, seconds_later=30, **succeeded(4))  # created later, queued earlier
    seen = latest_everywhere(api, api_client_user, visit, image)
    assert seen.pop("prefetched") == newer
    assert set(seen.values()) == {newer.model_version}, seen


def test_a_tie_in_queue_time_goes_to_the_newest_job(api, api_client_user, nurse, patient):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)
    image = visit.images.get(eye="right")
    another_grading(image, seconds_later=60, **succeeded(3))
    newest = another_grading(image, seconds_later=60, **succeeded(0))
    seen = latest_everywhere(api, api_client_user, visit, image)
    assert seen.pop("prefetched") == newest
    assert set(seen.values()) == {newest.model_version}, seen


def test_a_newer_grading_in_progress_means_grading_is_not_finished(api, nurse, patient):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)
    another_grading(visit.images.get(eye="left"), seconds_later=60, status=Status.QUEUED)
    results = api.get(reverse("api:visit-results", kwargs={"pk": visit.pk})).json()
    assert results["grading_finished"] is False
    assert visit_rollup(visit=visit) is False  # the roll-up waits for the same job


def test_sign_off_pins_the_latest_grading_of_each_image(doctor, nurse, patient):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)
    right = visit.images.get(eye="right")
    newer = another_grading(right, seconds_later=60, **succeeded(2))
    left_job = visit.images.get(eye="left").grading_jobs.get()
    read_visit(doctor, visit, right="2", left="1")
    sign_off = review_sign_off(actor=doctor, visit=visit, password=PASSWORD)
    assert sign_off.ai_jobs == sorted([newer.pk, left_job.pk])


def _served(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)


def test_a_signed_report_shows_the_heatmap_it_was_signed_with(doctor, nurse, patient):
    """A later model's grading must not put its heatmap into a signed report (the heatmap view
    served the most recently finished grading's heatmap, whatever the page showed)."""
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1, heatmaps=True)
    image = visit.images.get(eye="right")
    signed_job = image.grading_jobs.get()
    GradingJob.objects.filter(pk=signed_job.pk).update(finished_at=timezone.now())
    read_visit(doctor, visit, right="2", left="1")
    review_sign_off(actor=doctor, visit=visit, password=PASSWORD)
    later = another_grading(image, seconds_later=60, **succeeded(3))
    name = later.heatmap.storage.save("hm/later.png", ContentFile(heatmap_png(seed=99)))
    finished = timezone.now() + datetime.timedelta(minutes=5)
    GradingJob.objects.filter(pk=later.pk).update(heatmap=name, finished_at=finished)

    client = login(doctor)
    html = client.get(reverse("screening:report", kwargs={"pk": visit.pk})).content.decode()
    src = re.search(rf'src="([^"]*{image.pk}/heatmap/[^"]*)"', html)
    assert src is not None
    signed_job.refresh_from_db()
    with signed_job.heatmap.open("rb") as handle:
        assert _served(client, unescape(src.group(1))) == handle.read()
    # The visit page shows the latest grading, and its heatmap.
    plain = reverse("screening:image_heatmap", kwargs={"pk": image.pk})
    with later.heatmap.storage.open(name, "rb") as handle:
        assert _served(client, plain) == handle.read()


def test_a_heatmap_of_another_image_or_no_job_is_a_404(doctor, nurse, patient):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1, heatmaps=True)
    right, left = visit.images.get(eye="right"), visit.images.get(eye="left")
    left_job = left.grading_jobs.get()
    client = login(doctor)
    url = reverse("screening:image_heatmap", kwargs={"pk": right.pk})
    assert client.get(f"{url}?job={left_job.pk}").status_code == 404
    assert client.get(f"{url}?job=abc").status_code == 404
    assert client.get(f"{url}?job=99999999999999999999999").status_code == 404
    assert client.get(f"{url}?job={right.grading_jobs.get().pk}").status_code == 200

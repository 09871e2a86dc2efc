"""Photographs through the API: upload (idempotent on the checksum), results per image and per
visit, polling until grading finishes."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from screening.models import FundusImage, GradingJob, Visit
from tests.factories import fundus_like_jpeg, make_graded_visit


def upload(client, visit, data: bytes, eye="right", field="macula", name="eye.jpg"):
    return client.post(
        reverse("api:visit-images", kwargs={"pk": visit.pk}),
        {"file": SimpleUploadedFile(name, data), "eye": eye, "field": field},
        format="multipart",
    )


def test_upload_creates_an_image_and_queues_grading(api, visit):
    response = upload(api, visit, fundus_like_jpeg(seed=1))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["eye"] == "right" and body["content_type"] == "image/jpeg"
    assert body["grading"]["status"] == "queued"
    image = FundusImage.objects.get(pk=body["id"])
    assert image.uploaded_by.username == "camera"
    assert AuditEvent.objects.filter(action="image.upload", object_id=str(image.pk)).exists()


def test_the_same_file_again_returns_the_same_image(api, visit):
    data = fundus_like_jpeg(seed=2)
    first = upload(api, visit, data)
    again = upload(api, visit, data, name="renamed.jpg")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert FundusImage.objects.filter(visit=visit).count() == 1


def test_the_same_file_as_the_other_eye_is_a_conflict(api, visit):
    data = fundus_like_jpeg(seed=3)
    upload(api, visit, data, eye="right")
    response = upload(api, visit, data, eye="left")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_image"
    assert "Right eye" in response.json()["error"]["message"]


def test_no_upload_once_a_doctor_reads_the_visit(api, visit):
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.IN_REVIEW)
    response = upload(api, visit, fundus_like_jpeg(seed=4))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "in_review"


def test_eye_is_required_and_checked(api, visit):
    response = api.post(
        reverse("api:visit-images", kwargs={"pk": visit.pk}),
        {"file": SimpleUploadedFile("a.jpg", fundus_like_jpeg()), "eye": "middle"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "eye" in response.json()["error"]["fields"]


def test_polling_results_until_grading_finishes(api, visit):
    url = reverse("api:visit-results", kwargs={"pk": visit.pk})
    assert api.get(url).json()["grading_finished"] is False  # no photographs yet
    upload(api, visit, fundus_like_jpeg(seed=5), eye="right")
    upload(api, visit, fundus_like_jpeg(seed=6), eye="left")
    waiting = api.get(url).json()
    assert waiting["grading_finished"] is False
    assert [i["grading"]["status"] for i in waiting["images"]] == ["queued", "queued"]
    GradingJob.objects.filter(image__visit=visit).update(
        status=GradingJob.Status.SUCCEEDED, predicted_grade=1, gradable=True, referable=False
    )
    done = api.get(url).json()
    assert done["grading_finished"] is True
    assert {i["grading"]["predicted_grade"] for i in done["images"]} == {1}


def test_results_of_a_graded_visit_carry_the_ai_roll_up(api, nurse, patient):
    graded = make_graded_visit(nurse=nurse, patient=patient, right=2, left=0)
    body = api.get(reverse("api:visit-results", kwargs={"pk": graded.pk})).json()
    assert (body["ai_grade_right"], body["ai_grade_left"], body["ai_overall_grade"]) == (
        "2",
        "0",
        "2",
    )
    assert body["ai_referable"] is True and body["ai_outcome"]["key"] == "2"
    assert body["status"] == "awaiting_review" and body["signed"] is False


def test_image_results_list_every_model_version(api, nurse, patient):
    graded = make_graded_visit(nurse=nurse, patient=patient, right=1, left=1)
    image = graded.images.first()
    detail = api.get(reverse("api:image-detail", kwargs={"pk": image.pk})).json()
    assert detail["grading"]["model_version"] == "test-model-1.0"
    results = api.get(reverse("api:image-results", kwargs={"pk": image.pk})).json()
    assert [r["predicted_grade"] for r in results] == [1]
    assert len(results[0]["probabilities"]) == 5


def test_visit_detail_lists_images_with_their_grading(api, nurse, patient):
    graded = make_graded_visit(nurse=nurse, patient=patient, right=1, left=0)
    body = api.get(reverse("api:visit-detail", kwargs={"pk": graded.pk})).json()
    assert body["image_count"] == 2
    assert {i["eye"] for i in body["images"]} == {"right", "left"}
    assert all(i["grading"]["status"] == "succeeded" for i in body["images"])
    assert AuditEvent.objects.filter(action="visit.view", object_id=str(graded.pk)).exists()


def test_listing_a_visits_photographs_is_audited(api, visit):
    upload(api, visit, fundus_like_jpeg(seed=8))
    images = api.get(reverse("api:visit-images", kwargs={"pk": visit.pk})).json()
    assert len(images) == 1 and images[0]["grading"]["status"] == "queued"
    assert AuditEvent.objects.filter(action="visit.images_view", object_id=str(visit.pk)).exists()

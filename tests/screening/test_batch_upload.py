"""Batch upload of a visit's photographs: all files or none, each file's fate said, the
laterality warning confirmed or corrected before anything is saved; role and site checked."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from screening.models import FundusImage, Visit
from screening.selectors import eyes_with_results
from tests.conftest import login, stored_files
from tests.screening.fundus_samples import CLEAR_LEFT_EYES, UNCLEAR, sample_bytes

A, B, C, D = CLEAR_LEFT_EYES


def url(name: str, visit) -> str:
    return reverse(f"screening:{name}", kwargs={"pk": visit.pk})


def batch(*files: tuple[str, bytes, str, str, bool]) -> dict[str, object]:
    """The request the page's script sends: one formset row per file."""
    data: dict[str, object] = {"form-TOTAL_FORMS": str(len(files)), "form-INITIAL_FORMS": "0"}
    for i, (name, content, eye, field, confirmed) in enumerate(files):
        data[f"form-{i}-file"] = SimpleUploadedFile(name, content, content_type="image/jpeg")
        data[f"form-{i}-eye"] = eye
        data[f"form-{i}-field"] = field
        if confirmed:
            data[f"form-{i}-eye_confirmed"] = "on"
    return data


def four_photographs(*, confirm_wrong_one: bool) -> dict[str, object]:
    """Two left eyes, two right eyes (mirrored left photographs), and one LEFT eye photograph
    declared as right: the laterality check should warn about that one only."""
    return batch(
        ("OS_macula.jpg", sample_bytes(A), "left", "macula", False),
        ("OD_macula.jpg", sample_bytes(B, mirror=True), "right", "macula", False),
        ("OD_disc.jpg", sample_bytes(C), "right", "disc", confirm_wrong_one),
        ("OS_disc.jpg", sample_bytes(D), "left", "disc", False),
    )


@pytest.fixture
def doctor_client(doctor):
    return login(doctor)


# --- the page and the check endpoint ----------------------------------------------------------


def test_nurse_gets_the_batch_page_and_the_visit_page_links_to_it(nurse_client, visit):
    page = nurse_client.get(url("batch_upload", visit))
    assert page.status_code == 200
    assert b'id="batch-upload"' in page.content and b"batch-upload.js" in page.content
    detail = nurse_client.get(url("visit_detail", visit)).content.decode()
    assert url("batch_upload", visit) in detail


def test_check_answers_validation_laterality_and_name_without_storing(nurse_client, visit):
    upload = SimpleUploadedFile("Patient001_R.jpg", sample_bytes(A))
    answer = nurse_client.post(url("batch_check", visit), {"file": upload}).json()
    assert answer["ok"] is True
    assert answer["eye_from_name"] == "right" and answer["field_from_name"] == ""
    assert answer["looks_like"] == "left"  # the name says right; the photograph is a left eye
    assert answer["preview"].startswith("data:image/jpeg;base64,")
    assert not FundusImage.objects.exists() and stored_files() == []


def test_check_reports_a_bad_file(nurse_client, visit):
    upload = SimpleUploadedFile("notes.jpg", b"not a picture\n" * 50)
    answer = nurse_client.post(url("batch_check", visit), {"file": upload}).json()
    assert answer["ok"] is False and "is not a photograph" in " ".join(answer["messages"])


@pytest.mark.parametrize("name", ["batch_upload", "batch_check", "batch_submit"])
def test_wrong_role_is_refused(doctor_client, visit, name):
    data = four_photographs(confirm_wrong_one=True) if name != "batch_upload" else None
    response = (
        doctor_client.get(url(name, visit))
        if data is None
        else doctor_client.post(url(name, visit), {**data, "file": data["form-0-file"]})
    )
    assert response.status_code == 403
    assert not FundusImage.objects.exists() and stored_files() == []


@pytest.mark.parametrize("name", ["batch_upload", "batch_check", "batch_submit"])
def test_nurse_of_another_site_gets_404(outsider, visit, name):
    client = login(outsider)
    data = four_photographs(confirm_wrong_one=True)
    response = (
        client.get(url(name, visit))
        if name == "batch_upload"
        else client.post(url(name, visit), {**data, "file": data["form-0-file"]})
    )
    assert response.status_code == 404
    assert not FundusImage.objects.exists() and stored_files() == []


def test_anonymous_goes_to_login(client, visit):
    response = client.post(url("batch_submit", visit), four_photographs(confirm_wrong_one=True))
    assert response.status_code == 302 and "/login" in response["Location"]


# --- the submission ---------------------------------------------------------------------------


def test_laterality_warning_saves_nothing_until_confirmed(nurse_client, visit):
    response = nurse_client.post(
        url("batch_submit", visit), four_photographs(confirm_wrong_one=False)
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Nothing was saved: 1 eye to confirm. See each file below."
    fates = {f["name"]: f for f in body["files"]}
    assert fates["OD_disc.jpg"]["status"] == "needs_confirmation"
    assert fates["OD_disc.jpg"]["looks_like"] == "left"
    assert (
        "Declared Right eye (OD), but looks like a left eye" in fates["OD_disc.jpg"]["messages"][0]
    )
    assert fates["OD_disc.jpg"]["key"] == 2  # the script's index of that file
    assert {f["status"] for n, f in fates.items() if n != "OD_disc.jpg"} == {"ok"}
    assert not FundusImage.objects.exists() and stored_files() == []


def test_confirmed_batch_saves_all_four_and_records_the_confirmation(nurse_client, nurse, visit):
    response = nurse_client.post(
        url("batch_submit", visit), four_photographs(confirm_wrong_one=True)
    )
    assert response.status_code == 200, response.content
    assert response.json()["saved"] == 4
    assert response.json()["redirect"] == url("visit_detail", visit)
    # As the visit page lists them: right eye first; macula-centred before disc-centred.
    tags = [[r.image.original_filename for r in rows] for _, rows in eyes_with_results(visit)]
    assert tags == [["OD_macula.jpg", "OD_disc.jpg"], ["OS_macula.jpg", "OS_disc.jpg"]]
    assert len(stored_files()) == 8  # four photographs and their thumbnails
    assert AuditEvent.objects.filter(action="image.upload").count() == 4
    confirmed = AuditEvent.objects.get(action="image.laterality_confirmed")
    assert confirmed.actor == nurse
    assert confirmed.object_id == str(FundusImage.objects.get(original_filename="OD_disc.jpg").pk)
    assert confirmed.changes == {"declared": "right", "looks_like": "left"}
    page = nurse_client.get(url("visit_detail", visit)).content.decode()
    assert "Uploaded 4 photographs in one batch." in page


def test_a_bad_file_in_the_batch_saves_nothing_and_names_it(nurse_client, visit):
    data = batch(
        ("OS_macula.jpg", sample_bytes(A), "left", "macula", False),
        ("cut.jpg", sample_bytes(B)[:3000], "left", "disc", False),
        ("unclear.jpg", sample_bytes(UNCLEAR), "left", "macula", False),
    )
    response = nurse_client.post(url("batch_submit", visit), data)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Nothing was saved: 1 file refused. See each file below."
    fates = {f["name"]: f for f in body["files"]}
    assert fates["cut.jpg"]["status"] == "refused"
    assert "is damaged or incomplete" in fates["cut.jpg"]["messages"][0]
    assert fates["OS_macula.jpg"]["status"] == "ok"
    assert fates["unclear.jpg"]["status"] == "ok"  # "unsure" never blocks
    assert fates["unclear.jpg"]["looks_like"] == "unsure"
    assert not FundusImage.objects.exists() and stored_files() == []


def test_same_photograph_twice_with_different_tags_is_refused(nurse_client, visit):
    data = batch(
        ("a.jpg", sample_bytes(A), "left", "macula", False),
        ("a-again.jpg", sample_bytes(A), "left", "disc", False),
    )
    body = nurse_client.post(url("batch_submit", visit), data).json()
    fates = {f["name"]: f for f in body["files"]}
    assert fates["a-again.jpg"]["status"] == "refused"
    assert fates["a-again.jpg"]["messages"] == [
        "The same photograph as “a.jpg”, tagged differently."
    ]
    assert not FundusImage.objects.exists() and stored_files() == []


def test_failure_part_way_rolls_back_rows_and_removes_files(nurse_client, nurse, visit):
    # Already on the visit as a left macula photograph: tagging it "disc" fails inside the
    # transaction, after the first file of the batch has been written.
    nurse_client.post(
        url("batch_submit", visit), batch(("old.jpg", sample_bytes(D), "left", "macula", False))
    )
    before = sorted(stored_files())
    data = batch(
        ("new.jpg", sample_bytes(A), "left", "macula", False),
        ("old-again.jpg", sample_bytes(D), "left", "disc", False),
    )
    response = nurse_client.post(url("batch_submit", visit), data)
    assert response.status_code == 400
    fates = {f["name"]: f for f in response.json()["files"]}
    assert (
        "already on the visit as Left eye (OS), Macula-centred"
        in fates["old-again.jpg"]["messages"][0]
    )
    assert fates["new.jpg"]["status"] == "ok"
    assert list(FundusImage.objects.values_list("original_filename", flat=True)) == ["old.jpg"]
    assert sorted(stored_files()) == before


def test_untagged_file_is_refused_with_the_field_error(nurse_client, visit):
    data = batch(("x.jpg", sample_bytes(A), "", "macula", False))
    response = nurse_client.post(url("batch_submit", visit), data)
    assert response.status_code == 400
    assert response.json()["files"][0]["messages"] == ["This field is required."]
    assert not FundusImage.objects.exists()


def test_visit_in_review_refuses_the_batch(nurse_client, visit):
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.IN_REVIEW)
    response = nurse_client.post(
        url("batch_submit", visit), four_photographs(confirm_wrong_one=True)
    )
    assert response.status_code == 409
    assert "A doctor is already reviewing this visit" in response.json()["error"]
    assert not FundusImage.objects.exists() and stored_files() == []


def test_more_than_twelve_files_are_refused_whole(nurse_client, visit):
    files = [(f"{n}.jpg", sample_bytes(A), "left", "macula", False) for n in range(13)]
    response = nurse_client.post(url("batch_submit", visit), batch(*files))
    assert response.status_code == 400
    assert response.json()["error"] == "Upload at most 12 photographs at a time."
    assert not FundusImage.objects.exists() and stored_files() == []


def test_a_request_without_the_form_rows_saves_nothing(nurse_client, visit):
    response = nurse_client.post(url("batch_submit", visit), {"form-0-eye": "left"})
    assert response.status_code == 400
    assert "Choose at least one photograph." in response.json()["error"]
    assert not FundusImage.objects.exists()


def test_two_files_in_one_slot_are_refused_not_half_saved(nurse_client, visit):
    """Django keeps only the last of repeated parts; the batch refuses instead of dropping one."""
    data = batch(("OS_macula.jpg", sample_bytes(A), "left", "macula", False))
    data["form-0-file"] = [
        SimpleUploadedFile("first.jpg", sample_bytes(A), content_type="image/jpeg"),
        SimpleUploadedFile("second.jpg", sample_bytes(D), content_type="image/jpeg"),
    ]
    response = nurse_client.post(url("batch_submit", visit), data)
    assert response.status_code == 400
    assert (
        "first.jpg" in response.json()["error"] and "Nothing was saved" in response.json()["error"]
    )
    assert not FundusImage.objects.filter(visit=visit).exists() and stored_files() == []


def test_an_eye_given_twice_is_refused(nurse_client, visit):
    data = batch(("OS_macula.jpg", sample_bytes(A), "left", "macula", False))
    data["form-0-eye"] = ["left", "right"]
    response = nurse_client.post(url("batch_submit", visit), data)
    assert response.status_code == 400 and "form-0-eye" in response.json()["error"]
    assert not FundusImage.objects.filter(visit=visit).exists()


def test_check_refuses_two_file_parts(nurse_client, visit):
    files = [
        SimpleUploadedFile("notes.jpg", b"not a picture\n" * 50),
        SimpleUploadedFile("photo.jpg", sample_bytes(A), content_type="image/jpeg"),
    ]
    response = nurse_client.post(url("batch_check", visit), {"file": files})
    assert response.status_code == 400 and "notes.jpg" in response.json()["error"]

"""End to end in a real browser: a nurse signs in, registers a patient, opens a visit and uploads
one photograph of each eye."""

import pytest

from patients.models import Patient
from screening.models import FundusImage
from tests.factories import SiteFactory, UserFactory, fundus_like_jpeg

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_nurse_registers_patient_opens_visit_and_uploads_two_images(page, tmp_path):
    site = SiteFactory(code="north", name="North Clinic")
    UserFactory(username="nora", roles=["nurse"], sites=[site], password="browser-pass-123")
    right, left = tmp_path / "right.jpg", tmp_path / "left.jpg"
    right.write_bytes(fundus_like_jpeg(seed=1))
    left.write_bytes(fundus_like_jpeg(seed=2))

    page.goto("/")
    page.fill("#id_username", "nora")
    page.fill("#id_password", "browser-pass-123")
    page.click("button[type=submit]")
    page.get_by_role("link", name="Register patient").first.click()

    page.fill("#id_mrn", "N-42")
    page.fill("#id_given_name", "Edith")
    page.fill("#id_family_name", "Clarke")
    page.fill("#id_date_of_birth", "1960-02-10")
    page.select_option("#id_diabetes_type", "type2")
    page.fill("#id_diagnosis_year", "2004")
    page.get_by_role("button", name="Register patient").click()
    page.get_by_text("Registered Edith Clarke.").wait_for()

    page.get_by_role("button", name="New screening visit").click()
    page.check("#id_dilated")
    page.fill("#id_visual_acuity_right", "6/9")
    page.get_by_role("button", name="Open visit").click()
    page.get_by_text("Visit opened.").wait_for()

    for eye, photo in [("right", right), ("left", left)]:
        page.check(f"input[name=eye][value={eye}]")
        page.check("input[name=field][value=macula]")
        page.set_input_files("input[name=files]", str(photo))
        page.get_by_role("button", name="Upload").click()
        page.get_by_text(f"Uploaded “{photo.name}”.").wait_for()

    thumbnails = page.locator(".image-card img.fundus")
    assert thumbnails.count() == 2
    # Thumbnails are served by the authorising view and really decode in the browser. They load
    # lazily, and the live section may have just been replaced by a poll: wait until both decoded.
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('.image-card img.fundus')];"
        " return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        timeout=15000,
    )
    patient = Patient.objects.get(mrn="N-42")
    eyes = sorted(FundusImage.objects.filter(visit__patient=patient).values_list("eye", flat=True))
    assert eyes == ["left", "right"]

"""End to end in a real browser: a doctor opens the worklist, reviews a graded visit (agreeing with
the AI in one click per eye, zooming a photograph), signs with their password and downloads the
PDF report."""

import io

import pytest
from pypdf import PdfReader

from screening.models import SignOff, Visit
from tests.factories import PatientFactory, SiteFactory, UserFactory, make_graded_visit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_doctor_reviews_signs_and_downloads_the_pdf(page):
    site = SiteFactory(code="north", name="North Clinic")
    nurse = UserFactory(username="nora", roles=["nurse"], sites=[site])
    UserFactory(
        username="drwho",
        first_name="Ada",
        last_name="Okafor",
        roles=["doctor"],
        sites=[site],
        password="browser-pass-123",
    )
    patient = PatientFactory(site=site, created_by=nurse, given_name="Edith", family_name="Clarke")
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1, heatmaps=True)

    page.goto("/")
    page.fill("#id_username", "drwho")
    page.fill("#id_password", "browser-pass-123")
    page.click("button[type=submit]")
    page.get_by_role("link", name="Worklist").click()
    page.locator(f"tr[data-visit='{visit.pk}']").get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Start primary grading").click()
    page.get_by_text("Primary grading started.").wait_for()

    # Each photograph is shown once, in the image viewer (zoom, pan: tests/browser/test_viewer.py);
    # the eye's section below it carries the AI's result for the photograph.
    assert page.locator(".review-eye img.review-photo").count() == 0
    assert page.locator(".review-image").count() == 2

    # The AI heatmap, served by the authorising view (an older grading's: shown on its own).
    page.locator("details.ai-heatmap summary").first.click()
    heatmap = page.locator("details.ai-heatmap img").first
    assert "/heatmap/" in heatmap.get_attribute("src")
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=heatmap.element_handle())

    # DME has no default: agreeing with the AI's grade still needs the doctor's DME answer.
    page.get_by_role("button", name="Agree with AI: 2").click()
    page.get_by_text("choose whether diabetic macular oedema is present").wait_for()
    page.check("#id_right-dme_0")
    page.get_by_role("button", name="Agree with AI: 2").click()
    page.get_by_text("Right eye recorded.").wait_for()
    page.check("#id_left-dme_0")
    page.get_by_role("button", name="Agree with AI: 1").click()
    page.get_by_text("Left eye recorded.").wait_for()
    page.get_by_role("button", name="Submit reading").click()
    page.get_by_text("Reading submitted. Sign the report to finish.").wait_for()

    page.fill("#id_password", "browser-pass-123")
    page.get_by_role("button", name="Sign report").click()
    page.get_by_text("Report signed.").wait_for()
    assert Visit.objects.get(pk=visit.pk).status == Visit.Status.SIGNED
    assert SignOff.objects.get(visit=visit).signed_by.username == "drwho"

    # The report: every thumbnail (photograph and heatmap) is drawn, and a phone needs no sideways
    # scrolling (the walk found heatmap layers drawn 0 px wide and the result box overflowing).
    widths = page.locator(".thumbs img").evaluate_all("imgs => imgs.map(i => i.clientWidth)")
    assert widths and min(widths) > 0
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    with page.expect_download() as download:
        page.get_by_role("button", name="Download PDF").click()
    pdf = PdfReader(io.BytesIO(download.value.path().read_bytes()))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert "CLARKE, Edith" in text and "Ada Okafor" in text
    assert "2 · Moderate NPDR" in text and "1 · Mild NPDR" in text

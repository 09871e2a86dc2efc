"""In a real browser: the AI result of a visit whose referral flag and most probable grade
disagree reads as two things (screening decision, grade estimate) and says so plainly; the
heatmap lies on the photograph (same box when shown, hidden or side by side) with a legend and an
opacity slider. Screenshots of the visit and review pages at desktop and phone width go to
tmp/screenshots/ (git-ignored)."""

import io
from pathlib import Path

import pytest
from PIL import Image

from screening.models import GradingJob
from tests.factories import PatientFactory, SiteFactory, UserFactory
from tests.screening.test_suggested_outcome import make_disagreeing_visit, registered_heatmap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "tmp" / "screenshots"
PASSWORD = "browser-pass-123"
WIDTHS = {"desktop": 1280, "phone": 390}


def natural_photos() -> dict[str, bytes]:
    """Two of the shipped sample photographs (640 x 427, wider than tall): a left eye, and a left
    eye mirrored to stand for a right one."""
    samples = Path(__file__).resolve().parents[2] / "ml" / "samples"
    left = (samples / "natural_177_left_grade0.jpg").read_bytes()
    mirrored = io.BytesIO()
    right = Image.open(samples / "natural_129_left_grade2.jpg")
    right.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored, "JPEG", quality=92)
    return {"right": mirrored.getvalue(), "left": left}


@pytest.fixture
def disagreeing_visit():
    site = SiteFactory(code="north", name="North Clinic")
    nurse = UserFactory(username="nora", roles=["nurse"], sites=[site])
    UserFactory(username="drwho", roles=["doctor"], sites=[site], password=PASSWORD)
    patient = PatientFactory(site=site, created_by=nurse, given_name="Edith", family_name="Clarke")
    visit = make_disagreeing_visit(nurse=nurse, patient=patient, photos=natural_photos())
    for job in GradingJob.objects.filter(image__visit=visit):
        registered_heatmap(job)
    return visit


# The AI parts of the page (result, eye lines, outcome, heatmap) that reach past the viewport.
OVERFLOWING = """() => [...document.querySelectorAll(
    '.ai-summary *, [data-ai-result] *, .ai-eye-line *, [data-heat-view] *, .suggested-outcome *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map(el => el.tagName + '.' + el.className)"""


def log_in(page) -> None:
    page.goto("/")
    page.fill("#id_username", "drwho")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def box(locator) -> tuple[float, float, float, float]:
    b = locator.bounding_box()
    assert b is not None
    return (round(b["x"]), round(b["y"]), round(b["width"]), round(b["height"]))


def check_the_ai_result_wording(page) -> None:
    result = page.locator("[data-ai-result]").first  # the right eye's photograph
    assert "Refer: yes · P(referable) 22%, threshold 12%" in result.inner_text()
    assert "Most likely grade: 0 · No apparent DR (55%)" in result.inner_text()
    note = result.locator(".ai-note")
    assert note.is_visible()
    assert note.inner_text() == "Flagged as possibly referable; most likely grade: no apparent DR."
    assert result.locator("meter").count() == 5
    assert result.locator("tr.likely th").inner_text() == "0"
    body = page.locator("main").inner_text()
    assert "Moderate NPDR" not in body and "confidence" not in body.lower()
    assert "Routine referral" in body  # the one suggested outcome, with its urgency


def check_the_heatmap_lies_on_the_photograph(page) -> None:
    details = page.locator("details.ai-heatmap").first
    details.locator("summary").click()
    view = details.locator("[data-heat-view]")
    photo = view.locator(".heat-stack img").first
    layer = view.locator("[data-heat-layer]")
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=layer.element_handle())
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=photo.element_handle())
    # the layer has the photograph's aspect ratio and the same box: registered, no square crop
    natural = layer.evaluate("el => [el.naturalWidth, el.naturalHeight]")
    photo_natural = photo.evaluate("el => [el.naturalWidth, el.naturalHeight]")
    assert abs(natural[0] / natural[1] - photo_natural[0] / photo_natural[1]) < 0.01
    assert box(layer) == box(photo)
    assert view.locator(".heat-legend").is_visible()
    slider = view.locator("[data-heat-opacity]")
    slider.fill("30")
    assert layer.evaluate("el => getComputedStyle(el).opacity") == "0.3"
    before = box(layer)
    slider.fill("0")
    assert box(layer) == before  # hiding it does not move anything
    slider.fill("70")
    view.locator("[data-heat-side]").check()
    assert view.locator(".heat-plain").is_visible()
    assert box(layer) == box(photo)  # still on its photograph, now beside the plain one
    plain = box(view.locator(".heat-plain img"))
    assert plain[2] == box(photo)[2] and plain[0] < box(photo)[0]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_disagreeing_ai_result_reads_plainly_on_the_visit_and_review_pages(
    page, disagreeing_visit, width
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": WIDTHS[width], "height": 900})
    log_in(page)
    for name, url in (
        ("visit", f"/visits/{disagreeing_visit.pk}/"),
        ("review", f"/visits/{disagreeing_visit.pk}/review/"),
    ):
        page.goto(url)
        check_the_ai_result_wording(page)
        check_the_heatmap_lies_on_the_photograph(page)
        wide = page.evaluate(OVERFLOWING)
        page.screenshot(path=str(SHOTS / f"ai_result_{name}_{width}.png"), full_page=True)
        page.locator("[data-ai-result]").first.screenshot(
            path=str(SHOTS / f"ai_result_{name}_{width}_card.png")
        )
        assert wide == [], (name, width, wide)  # the AI parts fit the phone's width
    page.goto("/review/")  # the worklist suggests the same outcome, with the same urgency
    row = page.locator(f"tr[data-visit='{disagreeing_visit.pk}']")
    outcome = "Routine referral Refer to ophthalmology, routine (within ~13 weeks)"
    assert outcome in " ".join(row.inner_text().split())
    assert "urgent" not in row.inner_text().lower()
    page.screenshot(path=str(SHOTS / f"ai_result_worklist_{width}.png"), full_page=True)

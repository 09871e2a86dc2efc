"""The photograph viewer in a real browser: zoom levels and drag to pan (mouse, and touch on a
phone), the red-free filter, full screen, and this visit's photographs beside the previous visit's
with the previous visit's signed grade. Screenshots of the review and visit pages at desktop and
phone width go to tmp/screenshots/ (git-ignored) for people to look at."""

import datetime
import io
import re
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from screening.models import FundusImage, Visit
from screening.services.review import review_sign_off
from tests.factories import (
    PASSWORD,
    PatientFactory,
    SiteFactory,
    UserFactory,
    make_graded_visit,
    read_visit,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "tmp" / "screenshots"
DOCTOR_PASSWORD = "browser-pass-123"
LOADED = "img => img.complete && img.naturalWidth > 0"
# The widest right edge of the viewer and anything in it (the page header is not the viewer's).
VIEWER_RIGHT = (
    "() => Math.max(...Array.from(document.querySelectorAll('[data-viewer], [data-viewer] *'))"
    ".map(el => el.getBoundingClientRect().right))"
)


@pytest.fixture
def two_visits():
    """A patient's signed visit of June 2025 and their new visit waiting for review."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    site = SiteFactory(code="north", name="North Clinic")
    nurse = UserFactory(username="nora", roles=["nurse"], sites=[site])
    first_reader = UserFactory(username="drfirst", roles=["doctor"], sites=[site])
    UserFactory(
        username="drwho",
        first_name="Ada",
        last_name="Okafor",
        roles=["doctor"],
        sites=[site],
        password=DOCTOR_PASSWORD,
    )
    patient = PatientFactory(site=site, created_by=nurse, given_name="Edith", family_name="Clarke")
    before = make_graded_visit(nurse=nurse, patient=patient, right=1, left=0)
    Visit.objects.filter(pk=before.pk).update(visit_date=datetime.date(2025, 6, 1))
    read_visit(first_reader, before, right="1", left="0")
    review_sign_off(actor=first_reader, visit=before, password=PASSWORD)
    current = make_graded_visit(nurse=nurse, patient=patient, right=2, left=0)
    return before, current


def log_in(page, username="drwho", password=DOCTOR_PASSWORD):
    page.goto("/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    # Signed in: the log-out form is on the page (behind the "Menu" button at phone width).
    page.locator("form[action$='/logout/']").wait_for(state="attached")


def transform(locator) -> tuple[float, float, float]:
    """(scale, translate x, translate y) in pixels from the element's computed transform."""
    matrix = locator.evaluate("el => getComputedStyle(el).transform")
    if matrix == "none":
        return 1.0, 0.0, 0.0
    a, _b, _c, _d, e, f = (float(v) for v in re.findall(r"-?[\d.e]+", matrix.split("(")[1]))
    return a, e, f


def centre_pixel(page, locator) -> tuple[int, int, int]:
    png = locator.screenshot()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return image.getpixel((image.width // 2, image.height // 2))


def test_zoom_pan_filters_and_the_previous_visit_on_the_review_page(page, two_visits):
    before, current = two_visits
    errors = []  # script errors and Content Security Policy violations
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page)
    page.goto(reverse("screening:review", kwargs={"pk": current.pk}))

    right = page.locator(".viewer-eye[data-eye=right] [data-viewer-pair]").first
    now_img = right.locator(".viewer-pane.current img")
    old_img = right.locator(".viewer-pane.previous img")
    old_right = FundusImage.objects.get(visit=before, eye="right")
    # The thumbnail first, through the authorising image view; the full photograph when zoomed.
    old_full = reverse("screening:image_file", kwargs={"pk": old_right.pk})
    assert old_img.get_attribute("src") == reverse(
        "screening:image_thumb", kwargs={"pk": old_right.pk}
    )
    assert old_img.get_attribute("data-full-src") == old_full
    page.wait_for_function(LOADED, arg=old_img.element_handle())
    page.wait_for_function(LOADED, arg=now_img.element_handle())
    previous_caption = right.locator(".viewer-pane.previous").inner_text()
    assert "Signed grade of the eye: 1 · Mild NPDR" in previous_caption
    current = right.locator(".viewer-pane.current").inner_text()
    assert "AI for the eye, most likely grade: 2 · Moderate NPDR (AI refer: yes)" in current
    page.screenshot(path=str(SCREENSHOTS / "viewer-review-desktop.png"), full_page=True)

    # Zoom levels: both photographs of the pair scale together.
    assert transform(now_img)[0] == pytest.approx(1)
    page.get_by_role("button", name="2×", exact=True).click()
    assert transform(now_img)[0] == pytest.approx(2)
    assert transform(old_img)[0] == pytest.approx(2)
    sharp = (
        "([img, url]) => img.getAttribute('src') === url && img.complete && img.naturalWidth > 0"
    )
    page.wait_for_function(sharp, arg=[old_img.element_handle(), old_full])
    assert old_img.evaluate("img => img.naturalWidth") == old_right.width  # the full photograph
    assert page.locator("[data-viewer-level]").inner_text() == "2×"
    page.get_by_role("button", name="Zoom in").click()
    scale, x0, y0 = transform(now_img)
    assert scale == pytest.approx(3)

    # Drag with the mouse: the view moves with the pointer, the previous photograph with it.
    stage = right.locator(".viewer-pane.current [data-viewer-stage]")
    box = stage.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 40, cy + 30, steps=5)
    page.mouse.up()
    scale, x1, y1 = transform(now_img)
    assert scale == pytest.approx(3)
    assert (x1 - x0, y1 - y0) == (pytest.approx(40, abs=1), pytest.approx(30, abs=1))
    assert transform(old_img)[1:] == pytest.approx((x1, y1), abs=1)
    page.screenshot(path=str(SCREENSHOTS / "viewer-review-zoomed-desktop.png"), full_page=False)

    # Double-click zooms in further about the pointer; Fit goes back to the whole photograph.
    stage.dblclick()
    assert transform(now_img)[0] == pytest.approx(4)
    page.get_by_role("button", name="Fit", exact=True).click()
    assert transform(now_img) == pytest.approx((1, 0, 0))

    # Red-free shows the green channel alone: the orange fundus turns grey.
    r, g, b = centre_pixel(page, stage)
    assert r > g + 40  # the synthetic photograph is orange
    page.get_by_role("button", name="Red-free").click()
    assert "viewer-redfree" in now_img.evaluate("el => getComputedStyle(el).filter")
    r, g, b = centre_pixel(page, stage)
    assert abs(r - g) <= 3 and abs(g - b) <= 3
    page.get_by_role("button", name="Contrast").click()
    assert "viewer-enhance" in now_img.evaluate("el => getComputedStyle(el).filter")

    # The previous visit can be hidden to give this visit's photograph the width.
    page.get_by_role("button", name="Previous visit").click()
    assert not old_img.is_visible()
    page.get_by_role("button", name="Previous visit").click()
    assert old_img.is_visible()

    # One eye alone takes the whole width (both photographs of the pair stay); full screen (the
    # Fullscreen API, or the whole window where there is none).
    width_both = stage.bounding_box()["width"]
    page.get_by_role("button", name="OD", exact=True).click()
    assert not page.locator(".viewer-eye[data-eye=left]").is_visible()
    assert stage.bounding_box()["width"] > 1.8 * width_both
    page.get_by_role("button", name="Full screen").click()
    page.wait_for_function(
        "() => document.fullscreenElement === document.querySelector('[data-viewer]')"
        " || document.querySelector('[data-viewer]').classList.contains('expanded')"
    )
    page.get_by_role("button", name="2×", exact=True).click()
    page.screenshot(path=str(SCREENSHOTS / "viewer-review-fullscreen-desktop.png"))
    page.get_by_role("button", name="Exit full screen").click()
    page.get_by_role("button", name="Full screen").wait_for()
    page.get_by_role("button", name="Both eyes").click()
    assert page.locator(".viewer-eye[data-eye=left]").is_visible()
    assert errors == []


def test_touch_drag_and_pinch_on_a_phone(browser, live_server, two_visits):
    _before, current = two_visits
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page)
        page.goto(reverse("screening:review", kwargs={"pk": current.pk}))
        right = page.locator(".viewer-eye[data-eye=right] [data-viewer-pair]").first
        now_img = right.locator(".viewer-pane.current img")
        page.wait_for_function(LOADED, arg=now_img.element_handle())
        assert page.evaluate(VIEWER_RIGHT) <= 390  # no horizontal overflow from the viewer
        page.screenshot(path=str(SCREENSHOTS / "viewer-review-phone.png"), full_page=True)

        stage = right.locator(".viewer-pane.current [data-viewer-stage]")
        stage.scroll_into_view_if_needed()
        box = stage.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        cdp = context.new_cdp_session(page)

        def touch(kind, *points):
            cdp.send(
                "Input.dispatchTouchEvent",
                {"type": kind, "touchPoints": [{"x": x, "y": y} for x, y in points]},
            )

        # Two fingers spread apart: pinch zoom.
        touch("touchStart", (cx - 20, cy), (cx + 20, cy))
        for step in range(1, 6):
            touch("touchMove", (cx - 20 - 8 * step, cy), (cx + 20 + 8 * step, cy))
        touch("touchEnd")
        scale, x0, y0 = transform(now_img)
        assert scale == pytest.approx(3, abs=0.2)

        # One finger drags the zoomed photograph.
        touch("touchStart", (cx, cy))
        for step in range(1, 6):
            touch("touchMove", (cx - 6 * step, cy - 4 * step))
        touch("touchEnd")
        scale2, x1, y1 = transform(now_img)
        assert scale2 == pytest.approx(scale)
        assert (x1 - x0, y1 - y0) == (pytest.approx(-30, abs=2), pytest.approx(-20, abs=2))
        page.screenshot(path=str(SCREENSHOTS / "viewer-review-zoomed-phone.png"))

        page.goto(reverse("screening:visit_detail", kwargs={"pk": current.pk}))
        page.locator("[data-viewer]").wait_for()
        assert page.evaluate(VIEWER_RIGHT) <= 390
        page.screenshot(path=str(SCREENSHOTS / "viewer-visit-phone.png"), full_page=True)
    finally:
        context.close()


def test_the_visit_page_shows_the_viewer_at_desktop_width(page, two_visits):
    _before, current = two_visits
    log_in(page)
    page.goto(reverse("screening:visit_detail", kwargs={"pk": current.pk}))
    viewer = page.locator("[data-viewer]")
    viewer.locator(".viewer-pane.previous").first.wait_for()
    assert "Signed grade of the eye: 1 · Mild NPDR" in viewer.inner_text()
    page.get_by_role("button", name="4×", exact=True).click()
    assert transform(viewer.locator(".viewer-pane.current img").first)[0] == pytest.approx(4)
    page.get_by_role("button", name="Fit", exact=True).click()
    viewer.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "viewer-visit-desktop.png"), full_page=True)

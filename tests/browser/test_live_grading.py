"""In a real browser, with a real Celery worker: the visit page shows grading progress and the
result without a manual reload, and the heatmap lies on the photograph."""

from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import PatientFactory, SiteFactory, UserFactory, VisitFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]
SAMPLE = sorted((settings.BASE_DIR / "ml" / "samples").glob("natural_*.jpg"))[0]


def test_visit_page_updates_itself_when_grading_finishes(page, start_worker, tmp_path):
    site = SiteFactory(code="north", name="North Clinic")
    nurse = UserFactory(username="nora", roles=["nurse"], sites=[site], password="browser-pass-1")
    visit = VisitFactory(patient=PatientFactory(site=site, created_by=nurse), captured_by=nurse)
    start_worker()
    photo = tmp_path / "right.jpg"
    photo.write_bytes(Path(SAMPLE).read_bytes())

    page.goto("/accounts/login/")
    page.fill("#id_username", "nora")
    page.fill("#id_password", "browser-pass-1")
    page.click("button[type=submit]")
    page.goto(f"/visits/{visit.pk}/")
    page.check("input[name=eye][value=right]")
    page.set_input_files("input[name=files]", str(photo))
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("Uploaded “right.jpg”.").wait_for()
    assert page.locator("#visit-images").get_attribute("data-polling") == "true"

    # No reload from here on: the page polls the live fragment.
    page.locator(".image-card[data-job-status=succeeded]").wait_for(timeout=120_000)
    assert page.locator("#visit-images").get_attribute("data-polling") == "false"
    card = page.locator(".image-card").first
    assert "Refer:" in card.inner_text() or "Ungradable" in card.inner_text()
    heatmap = card.locator("details.ai-heatmap")
    if heatmap.count():  # the heat layer lies on the photograph, in the same box
        heatmap.locator("summary").click()
        layer = heatmap.locator("[data-heat-layer]")
        photo = heatmap.locator(".heat-stack img").first
        loaded = "img => img.complete && img.naturalWidth > 0"
        page.wait_for_function(loaded, arg=layer.element_handle())
        page.wait_for_function(loaded, arg=photo.element_handle())
        assert "/heatmap/" in layer.get_attribute("src")
        assert layer.bounding_box() == photo.bounding_box()

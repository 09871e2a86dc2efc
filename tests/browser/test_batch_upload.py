"""In a real browser: a nurse drops four photographs of a visit at once, the form is pre-filled
from the file names, the laterality check warns about one photograph, the nurse confirms the
eye, and all four are saved in one submission. Screenshots at desktop and phone width go to
tmp/screenshots/ (git-ignored)."""

from pathlib import Path

import pytest
from django.conf import settings

from audit.models import AuditEvent
from screening.models import FundusImage
from tests.factories import PatientFactory, SiteFactory, UserFactory, VisitFactory
from tests.screening.fundus_samples import CLEAR_LEFT_EYES, sample_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "tmp" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def photographs(folder: Path) -> list[Path]:
    """Four files as a camera export names them. The disc-centred "OD" file is in fact a left eye
    photograph (the check should warn); the right eye macula photograph is a mirrored left eye."""
    a, b, c, d = CLEAR_LEFT_EYES
    files = {
        "visit_OD_disc.jpg": sample_bytes(c),
        "visit_OS_disc.jpg": sample_bytes(d),
        "visit_OS_macula.jpg": sample_bytes(a),
        "visit_OD_macula.jpg": sample_bytes(b, mirror=True),
    }
    paths = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_batch_of_four_with_one_laterality_warning_confirmed(page, tmp_path):
    site = SiteFactory(code="north", name="North Clinic")
    nurse = UserFactory(username="nora", roles=["nurse"], sites=[site], password="browser-pass-123")
    patient = PatientFactory(site=site, created_by=nurse, given_name="Edith", family_name="Clarke")
    visit = VisitFactory(patient=patient, captured_by=nurse)

    page.goto("/")
    page.fill("#id_username", "nora")
    page.fill("#id_password", "browser-pass-123")
    page.click("button[type=submit]")
    page.goto(f"/visits/{visit.pk}/")
    page.get_by_role("link", name="Upload all of the visit's photographs at once").click()

    page.set_input_files("#batch-files", [str(p) for p in photographs(tmp_path)])
    page.wait_for_function(
        "() => { const rows = [...document.querySelectorAll('.batch-row')];"
        " return rows.length === 4 && rows.every(r => r.dataset.state !== 'checking'); }"
    )
    rows = page.locator(".batch-row")
    # Pre-filled from the names and listed macula-centred first (right eye, then left).
    names = rows.locator(".file-name").all_inner_texts()
    assert names == [
        "visit_OD_macula.jpg",
        "visit_OS_macula.jpg",
        "visit_OD_disc.jpg",
        "visit_OS_disc.jpg",
    ]
    assert [r.locator("[data-eye]").input_value() for r in rows.all()] == [
        "right",
        "left",
        "right",
        "left",
    ]
    assert [r.locator("[data-field]").input_value() for r in rows.all()] == [
        "macula",
        "macula",
        "disc",
        "disc",
    ]
    # Every preview really decoded in the browser (data: URLs allowed by the CSP).
    page.wait_for_function(
        "() => [...document.querySelectorAll('.batch-row img.preview')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )

    # One warning, on the OD disc photograph, and nothing can be sent until it is settled.
    warned = rows.filter(has=page.locator("[data-warning]:visible"))
    assert warned.count() == 1
    assert warned.locator(".file-name").inner_text() == "visit_OD_disc.jpg"
    assert "declared right eye, but the photograph looks like a left eye" in warned.inner_text()
    assert page.locator("#batch-submit").is_disabled()
    page.get_by_text("1 to confirm or correct").wait_for()
    shoot(page, "batch_upload_warning_desktop.png")
    page.set_viewport_size(PHONE)
    assert no_horizontal_overflow(page)
    shoot(page, "batch_upload_warning_phone.png")
    page.set_viewport_size(DESKTOP)

    warned.get_by_label("The declared eye is right; keep it").check()
    page.get_by_text("Ready to upload.").wait_for()
    assert FundusImage.objects.count() == 0  # nothing saved before the one submission
    page.get_by_role("button", name="Upload all").click()
    page.get_by_text("Uploaded 4 photographs in one batch.").wait_for()
    assert page.url.endswith(f"/visits/{visit.pk}/")

    saved = sorted(FundusImage.objects.values_list("original_filename", "eye", "field"))
    assert saved == [
        ("visit_OD_disc.jpg", "right", "disc"),
        ("visit_OD_macula.jpg", "right", "macula"),
        ("visit_OS_disc.jpg", "left", "disc"),
        ("visit_OS_macula.jpg", "left", "macula"),
    ]
    confirmed = AuditEvent.objects.get(action="image.laterality_confirmed")
    assert confirmed.changes == {"declared": "right", "looks_like": "left"}
    # The visit page lists each eye's macula-centred photograph before its disc-centred one.
    alts = page.locator(".image-card img.fundus").evaluate_all("imgs => imgs.map(i => i.alt)")
    assert [a.split(", ")[1] for a in alts] == ["Macula-centred", "Disc-centred"] * 2
    shoot(page, "batch_upload_visit_desktop.png")
    page.set_viewport_size(PHONE)
    shoot(page, "batch_upload_visit_phone.png")


def test_a_correction_switches_the_eye_and_a_bad_file_blocks_the_batch(page, tmp_path):
    site = SiteFactory(code="north", name="North Clinic")
    nurse = UserFactory(username="nora", roles=["nurse"], sites=[site], password="browser-pass-123")
    visit = VisitFactory(patient=PatientFactory(site=site, created_by=nurse), captured_by=nurse)
    mislabelled, broken = tmp_path / "scan_right.jpg", tmp_path / "notes.jpg"
    mislabelled.write_bytes(sample_bytes(CLEAR_LEFT_EYES[0]))
    broken.write_bytes(b"not a photograph\n" * 40)

    page.goto("/")
    page.fill("#id_username", "nora")
    page.fill("#id_password", "browser-pass-123")
    page.click("button[type=submit]")
    page.goto(f"/visits/{visit.pk}/images/batch/")
    page.set_input_files("#batch-files", [str(mislabelled), str(broken)])
    page.get_by_text("1 that cannot be uploaded").wait_for()
    bad = page.locator(".batch-row", has_text="notes.jpg")
    assert "is not a photograph" in bad.inner_text()
    assert page.locator("#batch-submit").is_disabled()
    shoot(page, "batch_upload_refused_desktop.png")

    row = page.locator(".batch-row", has_text="scan_right.jpg")
    row.get_by_role("button", name="Change to the other eye").click()
    assert row.locator("[data-eye]").input_value() == "left"
    bad.get_by_role("button", name="Remove this file").click()
    page.get_by_text("Ready to upload.").wait_for()
    page.get_by_role("button", name="Upload all").click()
    page.get_by_text("Uploaded 1 photograph in one batch.").wait_for()
    assert list(FundusImage.objects.values_list("eye", flat=True)) == ["left"]
    assert not AuditEvent.objects.filter(action="image.laterality_confirmed").exists()

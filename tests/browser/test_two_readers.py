"""End to end in a real browser: a visit that needs a second, independent reader, completed by two
doctors. The first doctor's grade differs from the AI's; the worklist then shows the visit as
awaiting a second reader and why, and no longer offers it to the first doctor; a second doctor finds
it, reads it blind and signs; the report is then in their "Signed by me" tab. Screenshots of the
worklist and review page at desktop (1280 px) and phone (390 px) width go to tmp/screenshots/, and
at phone width no main page is wider than the screen."""

from pathlib import Path

import pytest

from screening.models import EyeReading, Review, SignOff, Visit
from tests.factories import PatientFactory, SiteFactory, UserFactory, make_graded_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "tmp" / "screenshots"
PASSWORD = "browser-pass-123"
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}


# A hand-made form posting to the page itself (with the page's CSRF token), as a forged edit would.
FORGE = """fields => {
  const form = document.createElement("form");
  form.method = "post";
  form.action = location.pathname;
  const all = {...fields, csrfmiddlewaretoken:
    document.querySelector("input[name=csrfmiddlewaretoken]").value};
  for (const [name, value] of Object.entries(all)) {
    const input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}"""


def sign_in(page, username):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_role("button", name="Log out").wait_for()


def sign_out(page):
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Log out").click()


def shoot(page, name):
    """Screenshots at both widths; at phone width the page must not scroll sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SHOTS / f"two-readers-{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SHOTS / f"two-readers-{name}-phone.png"), full_page=True)
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, f"{name}: {width} px wide at phone width"
    page.set_viewport_size(DESKTOP)


def test_a_two_reader_visit_is_completed_by_two_doctors(page):
    site = SiteFactory(code="north", name="North Clinic")
    nurse = UserFactory(username="nora", roles=["nurse"], sites=[site])
    for username, first, last in (("first", "Ada", "Okafor"), ("second", "Ben", "Lee")):
        UserFactory(
            username=username,
            first_name=first,
            last_name=last,
            roles=["doctor"],
            sites=[site],
            password=PASSWORD,
        )
    patient = PatientFactory(
        site=site, created_by=nurse, given_name="Edith", family_name="Clarke", mrn="N-4242"
    )
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1, heatmaps=True)
    row = f"tr[data-visit='{visit.pk}']"

    # First reader: the right eye is graded 0 where the AI says 2 (no longer referable).
    sign_in(page, "first")
    page.get_by_role("link", name="Worklist", exact=True).click()
    page.fill("#id_q", "clarke")
    page.get_by_role("button", name="Search").click()
    shoot(page, "worklist-to-read")
    page.locator(row).get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Start primary grading").click()
    page.get_by_text("Primary grading started.").wait_for()

    # The left eye's entries survive saving the right eye; errors show at the field.
    right, left = page.locator("#eye-right"), page.locator("#eye-left")
    left.get_by_text("Override").click()
    page.check("#id_left-dme_0")
    page.check("#id_left-grade_1")
    page.fill("#id_left-comment", "A few microaneurysms")
    right.get_by_text("Override").click()
    # "Why can this eye not be graded?" only once the eye is marked ungradable.
    reason = page.locator("[data-when-ungradable='right']")
    assert not reason.is_visible()
    page.check("#id_right-gradable_1")
    assert reason.is_visible()
    page.check("#id_right-gradable_0")
    assert not reason.is_visible()
    page.check("#id_right-grade_0")
    page.get_by_role("button", name="Save right eye").click()
    dme_error = right.locator("fieldset[data-field='right-dme'].invalid .field-error")
    dme_error.wait_for()
    assert "Choose whether diabetic macular oedema" in dme_error.inner_text()
    assert page.input_value("#id_left-comment") == "A few microaneurysms"
    assert page.evaluate("window.scrollY") > 0  # the page brings the marked field into view
    shoot(page, "review-field-error")
    page.check("#id_right-dme_0")
    page.get_by_role("button", name="Save right eye").click()
    page.get_by_text("Right eye recorded.").wait_for()
    assert page.url.endswith("#eye-right")
    assert page.evaluate("window.scrollY") > 0  # back at the eye, not at the top
    assert page.input_value("#id_left-comment") == "A few microaneurysms"
    assert page.is_checked("#id_left-grade_1") and page.is_checked("#id_left-dme_0")
    page.get_by_role("button", name="Save left eye").click()
    page.get_by_text("Left eye recorded.").wait_for()
    page.get_by_role("button", name="Submit reading").click()
    page.get_by_text("Another doctor reads next.").wait_for()

    # The worklist says the visit waits for a second reader, why, and does not offer it to them.
    page.get_by_role("link", name="Awaiting second reader").click()
    assert page.locator(row).get_by_text("Second reader needed").is_visible()
    assert "differs from the AI" in page.locator(row).inner_text()
    assert page.locator(row).get_by_role("button", name="Review").count() == 0
    shoot(page, "worklist-second-reader")
    page.get_by_role("link", name="To read").click()
    assert page.locator(row).count() == 0
    sign_out(page)

    # Second reader: finds it under "To read", reads blind, agrees with the first doctor, signs.
    sign_in(page, "second")
    page.get_by_role("link", name="Worklist", exact=True).click()
    assert "Second reader needed" in page.locator(row).inner_text()
    page.locator(row).get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Start second (blind) reading").click()
    page.get_by_text("You are reading blind").wait_for()
    assert "Okafor" not in page.locator("main").inner_text()  # the first reading stays hidden
    shoot(page, "review-second-reader")
    right.get_by_text("Override").click()
    page.check("#id_right-grade_0")
    page.check("#id_right-dme_0")
    page.get_by_role("button", name="Save right eye").click()
    page.get_by_text("Right eye recorded.").wait_for()
    page.check("#id_left-dme_0")
    page.get_by_role("button", name="Agree with AI: 1").click()
    page.get_by_text("Left eye recorded.").wait_for()
    page.get_by_role("button", name="Submit reading").click()
    page.get_by_text("Reading submitted. Sign the report to finish.").wait_for()
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign report").click()
    page.get_by_text("Report signed.").wait_for()

    sign_off = SignOff.objects.get(visit=visit)
    assert sign_off.signed_by.username == "second"
    assert sign_off.review.round == Review.Round.SECOND
    assert Visit.objects.get(pk=visit.pk).status == Visit.Status.SIGNED
    assert {r.reader.username for r in Review.objects.filter(visit=visit)} == {"first", "second"}

    # A forged edit after sign-off is refused with the real reason.
    page.goto(f"/visits/{visit.pk}/review/")
    page.evaluate(FORGE, {"right-gradable": "yes", "right-grade": "4", "eye": "right"})
    page.get_by_text("This report is signed: it can no longer be changed.").wait_for()
    assert SignOff.objects.get(visit=visit).review.eye_readings.get(eye="right").code == "0"

    # The second doctor finds the report they signed.
    page.get_by_role("link", name="Worklist", exact=True).click()
    page.get_by_role("link", name="Signed by me").click()
    page.locator(row).get_by_role("button", name="Report").wait_for()
    shoot(page, "worklist-signed")


def test_main_pages_fit_a_phone_and_the_dashboard_lines_up(page):
    site = SiteFactory(code="north", name="North Clinic")
    nurse = UserFactory(username="nora", roles=["nurse"], sites=[site])
    UserFactory(username="first", roles=["doctor", "admin"], sites=[site], password=PASSWORD)
    patient = PatientFactory(site=site, created_by=nurse, given_name="Edith", family_name="Clarke")
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)
    sign_in(page, "first")
    pages = {
        "home": "/",
        "dashboard": "/review/dashboard/",
        "visit": f"/visits/{visit.pk}/",
        "patients": "/patients/",
        "grading": "/staff/grading/",
    }
    for name, url in pages.items():
        page.goto(url)
        shoot(page, name)

    # The confusion matrix's column headers sit over their cells.
    page.goto("/review/dashboard/")
    heads = page.locator("table.confusion thead th")
    cells = page.locator("table.confusion tbody tr").first.locator("td")
    for i in range(5):
        head, cell = heads.nth(i).bounding_box(), cells.nth(i).bounding_box()
        assert abs((head["x"] + head["width"] / 2) - (cell["x"] + cell["width"] / 2)) < 2
        centred = heads.nth(i).evaluate("e => getComputedStyle(e).textAlign")
        assert centred == cells.nth(i).evaluate("e => getComputedStyle(e).textAlign") == "center"

    # Both eyes share one form: Enter in the left eye's text field saves the left eye.
    page.goto(f"/visits/{visit.pk}/review/")
    page.get_by_role("button", name="Start primary grading").click()
    page.locator("#eye-left").get_by_text("Override").click()
    page.check("#id_left-gradable_1")
    page.fill("#id_left-ungradable_reason", "Small pupil")
    page.press("#id_left-ungradable_reason", "Enter")
    page.get_by_text("Left eye recorded.").wait_for()
    left = EyeReading.objects.get(review__visit=visit, eye="left")
    assert (left.code, left.ungradable_reason) == ("U", "Small pupil")
    assert not EyeReading.objects.filter(review__visit=visit, eye="right").exists()

    # At phone width the menu folds behind one button.
    page.set_viewport_size(PHONE)
    menu = page.get_by_role("button", name="Menu")
    assert (
        menu.is_visible() and not page.get_by_role("link", name="Worklist", exact=True).is_visible()
    )
    menu.click()
    page.get_by_role("link", name="Worklist", exact=True).click()
    page.get_by_role("heading", name="Review worklist").wait_for()

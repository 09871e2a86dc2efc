"""The viewer's comparison photograph: the patient's latest earlier visit with photographs, loaded
through a site-scoped selector, with its signed grade (else its AI grade); a user of another site
never gets it."""

import datetime

import pytest
from django.urls import reverse

from screening.models import FundusImage, Visit
from screening.rules import Grade
from screening.selectors import previous_visit, viewer_content
from screening.services.review import addendum_add, review_sign_off
from tests.conftest import login
from tests.factories import (
    PASSWORD,
    PatientFactory,
    UserFactory,
    VisitFactory,
    make_graded_visit,
    read_visit,
)

pytestmark = pytest.mark.django_db


def graded_on(day: datetime.date, **kwargs: object) -> Visit:
    visit = make_graded_visit(**kwargs)
    Visit.objects.filter(pk=visit.pk).update(visit_date=day)
    visit.refresh_from_db()
    return visit


@pytest.fixture
def away_doctor(other_site):
    return UserFactory(username="away_doctor", roles=["doctor"], sites=[other_site])


def test_the_previous_visit_is_the_latest_earlier_one_with_photographs(nurse, doctor, patient):
    graded_on(datetime.date(2024, 3, 1), nurse=nurse, patient=patient)
    latest_earlier = graded_on(datetime.date(2025, 6, 1), nurse=nurse, patient=patient)
    current = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient)
    graded_on(datetime.date(2026, 2, 1), nurse=nurse, patient=patient)  # later: not "previous"
    VisitFactory(patient=patient, captured_by=nurse, visit_date=datetime.date(2025, 12, 1))
    someone_else = PatientFactory(site=patient.site, created_by=nurse)
    graded_on(datetime.date(2025, 12, 20), nurse=nurse, patient=someone_else)

    # Not the visit of December without photographs, nor another patient's, nor a later one.
    assert previous_visit(user=doctor, visit=current) == latest_earlier


def test_an_earlier_visit_on_the_same_day_counts(nurse, doctor, patient):
    morning = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient)
    afternoon = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient)

    assert previous_visit(user=doctor, visit=afternoon) == morning
    assert previous_visit(user=doctor, visit=morning) is None


def test_a_visit_at_a_site_outside_the_users_sites_is_never_the_previous_one(
    nurse, doctor, patient, other_site, away_doctor
):
    at_home = graded_on(datetime.date(2024, 3, 1), nurse=nurse, patient=patient)
    elsewhere = graded_on(datetime.date(2025, 6, 1), nurse=nurse, patient=patient)
    Visit.objects.filter(pk=elsewhere.pk).update(site=other_site)  # e.g. before a transfer
    current = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient)

    assert previous_visit(user=doctor, visit=current) == at_home
    assert previous_visit(user=away_doctor, visit=current) == elsewhere
    assert previous_visit(user=away_doctor, visit=at_home) is None


def test_the_same_eye_and_field_is_paired_with_the_signed_grade(nurse, doctor, patient):
    before = graded_on(datetime.date(2025, 6, 1), nurse=nurse, patient=patient, right=1, left=0)
    read_visit(doctor, before, right="1", left="0")
    review_sign_off(actor=doctor, visit=before, password=PASSWORD)
    current = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient, right=2, left=0)

    content = viewer_content(user=doctor, visit=current)

    right, left = content.eyes
    assert (right.eye, left.eye) == ("right", "left")
    assert right.photos[0].previous == FundusImage.objects.get(visit=before, eye="right")
    assert left.photos[0].previous == FundusImage.objects.get(visit=before, eye="left")
    assert (right.grade.grade, right.grade.signed) == (Grade.MODERATE, False)
    assert (right.previous_grade.grade, right.previous_grade.signed) == (Grade.MILD, True)


def test_an_amended_previous_report_says_so(nurse, doctor, patient):
    before = graded_on(datetime.date(2025, 6, 1), nurse=nurse, patient=patient, right=1, left=0)
    read_visit(doctor, before, right="1", left="0")
    review_sign_off(actor=doctor, visit=before, password=PASSWORD)
    addendum_add(actor=doctor, visit=before, reason="Correction", text="Laser scars seen.")
    current = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient)

    right = viewer_content(user=doctor, visit=current).eyes[0]

    assert (right.previous_grade.signed, right.previous_grade.amended) == (True, True)


def test_an_unsigned_previous_visit_shows_its_ai_grade(nurse, doctor, patient):
    graded_on(datetime.date(2025, 6, 1), nurse=nurse, patient=patient, right=3, left=0)
    current = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient)

    right = viewer_content(user=doctor, visit=current).eyes[0]

    assert (right.previous_grade.grade, right.previous_grade.signed) == (Grade.SEVERE, False)


def test_the_review_page_shows_the_previous_photograph_and_its_grade(nurse, doctor, patient):
    oldest = graded_on(datetime.date(2024, 3, 1), nurse=nurse, patient=patient, right=0, left=0)
    before = graded_on(datetime.date(2025, 6, 1), nurse=nurse, patient=patient, right=1, left=0)
    read_visit(doctor, before, right="1", left="0")
    review_sign_off(actor=doctor, visit=before, password=PASSWORD)
    current = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient, right=2, left=0)
    old_right = FundusImage.objects.get(visit=before, eye="right")

    client = login(doctor)
    page = client.get(reverse("screening:review", kwargs={"pk": current.pk})).content.decode()

    old_url = reverse("screening:image_file", kwargs={"pk": old_right.pk})
    assert old_url in page
    assert "<strong>Previous visit</strong>" in page
    assert reverse("screening:visit_detail", kwargs={"pk": before.pk}) in page
    assert "Signed grade of the eye: <strong>1</strong> · Mild NPDR" in page
    assert client.get(old_url).status_code == 200  # served by the authorising image view
    for image in FundusImage.objects.filter(visit=oldest):  # only the latest earlier visit
        assert reverse("screening:image_file", kwargs={"pk": image.pk}) not in page


def test_the_visit_page_shows_the_previous_photograph(nurse, patient):
    before = graded_on(datetime.date(2025, 6, 1), nurse=nurse, patient=patient, right=3, left=0)
    current = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient)
    old_left = FundusImage.objects.get(visit=before, eye="left")

    page = login(nurse).get(reverse("screening:visit_detail", kwargs={"pk": current.pk}))

    assert reverse("screening:image_file", kwargs={"pk": old_left.pk}) in page.content.decode()
    shown = "AI for the eye, most likely grade: <strong>3</strong> · Severe NPDR"
    assert shown in page.content.decode()


def test_a_user_of_another_site_gets_neither_the_pages_nor_the_previous_photograph(
    nurse, patient, outsider, away_doctor
):
    before = graded_on(datetime.date(2025, 6, 1), nurse=nurse, patient=patient)
    current = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient)
    old_right = FundusImage.objects.get(visit=before, eye="right")

    for user, name in ((away_doctor, "review"), (outsider, "visit_detail")):
        client = login(user)
        assert (
            client.get(reverse(f"screening:{name}", kwargs={"pk": current.pk})).status_code == 404
        )
        old_url = reverse("screening:image_file", kwargs={"pk": old_right.pk})
        assert client.get(old_url).status_code == 404


def test_without_an_earlier_visit_the_viewer_shows_no_comparison(nurse, doctor, patient):
    current = graded_on(datetime.date(2026, 1, 15), nurse=nurse, patient=patient)

    page = login(doctor).get(reverse("screening:review", kwargs={"pk": current.pk}))

    assert page.context["viewer"].previous is None
    assert b"data-viewer-pair" in page.content and b"data-viewer-previous-pane" not in page.content

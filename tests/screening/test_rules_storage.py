"""Grades meet the database in one place (GradeField): stored as codes, read as grades, and the
API still answers codes ("" before the AI roll-up)."""

import pytest
from django.urls import reverse

from screening.models import Review, Visit
from screening.rules import UNGRADABLE, Grade
from tests.conftest import login
from tests.factories import make_graded_visit, read_visit

pytestmark = pytest.mark.django_db


def test_a_visit_reads_its_ai_grades_as_grades(nurse, patient):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=3, left=None)
    fresh = Visit.objects.get(pk=visit.pk)
    assert fresh.ai_grade_right is Grade.SEVERE and fresh.ai_grade_left is UNGRADABLE
    assert fresh.ai_overall_grade is Grade.SEVERE and fresh.ai_grade("right") is Grade.SEVERE
    assert list(Visit.objects.filter(pk=visit.pk).values_list("ai_grade_left", flat=True)) == [
        UNGRADABLE
    ]
    # Stored as the codes: lookups by code find it, and the column holds "3" and "U".
    assert Visit.objects.filter(pk=visit.pk, ai_grade_right="3", ai_grade_left="U").exists()
    assert Visit.objects.filter(pk=visit.pk, ai_grade_right=Grade.SEVERE).exists()


def test_an_assigned_code_becomes_a_grade_and_nonsense_is_refused(visit):
    visit.ai_grade_right = "2"
    assert visit.ai_grade_right is Grade.MODERATE
    visit.ai_grade_right = ""
    assert visit.ai_grade_right is None and visit.ai_grade("right") is None
    with pytest.raises(ValueError):
        visit.ai_grade_right = "7"


def test_a_signed_reading_reads_its_overall_grade_as_a_grade(doctor, nurse, patient):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)
    review = read_visit(doctor, visit, right="2", left="U")
    assert Review.objects.get(pk=review.pk).overall_grade is Grade.MODERATE


def test_the_api_answers_codes_and_empty_before_the_roll_up(api, visit, nurse, patient):
    graded = make_graded_visit(nurse=nurse, patient=patient, right=0, left=None)
    for pk, expected in ((visit.pk, ("", "", "")), (graded.pk, ("0", "U", "U"))):
        for name in ("api:visit-detail", "api:visit-results"):
            body = api.get(reverse(name, kwargs={"pk": pk})).json()
            got = (body["ai_grade_right"], body["ai_grade_left"], body["ai_overall_grade"])
            assert got == expected, (name, pk)


def test_the_admin_shows_a_graded_visit(admin_user, nurse, patient):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=3, left=None)
    admin_user.is_superuser = True
    admin_user.save(update_fields=["is_superuser"])
    page = login(admin_user).get(reverse("admin:screening_visit_change", args=[visit.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "AI grade, right eye" in html and "AI grade, left eye" in html

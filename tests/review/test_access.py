"""Site scoping of the review pages: a doctor of another site gets 404 for every review and report
URL of a home-site visit, never a page that confirms it exists."""

import pytest
from django.urls import reverse

from screening.services.review import review_sign_off
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory, read_visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def away_doctor(other_site):
    return UserFactory(username="away_doctor", roles=["doctor"], sites=[other_site])


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("review", "get"),
        ("review_start", "post"),
        ("review_submit", "post"),
        ("sign_off", "get"),
        ("addendum_add", "get"),
        ("report", "get"),
        ("report_pdf", "get"),
        ("letter", "get"),
        ("letter_pdf", "get"),
    ],
)
def test_doctor_of_another_site_gets_404(name, method, graded_visit, doctor, away_doctor):
    read_visit(doctor, graded_visit, right="2", left="1")
    review_sign_off(actor=doctor, visit=graded_visit, password=PASSWORD)
    response = getattr(login(away_doctor), method)(
        reverse(f"screening:{name}", kwargs={"pk": graded_visit.pk})
    )
    assert response.status_code == 404
    for leak in (graded_visit.patient.full_name, str(graded_visit.patient)):  # not the bare
        assert leak.encode() not in response.content  # surname: "Chan" is in "Change password"


def test_other_sites_visits_are_not_on_the_worklist(graded_visit, away_doctor):
    response = login(away_doctor).get(reverse("screening:worklist"))
    assert response.context["rows"] == []
    assert response.context["counts"]["total"] == 0


def test_admin_reads_reports_of_every_site(graded_visit, doctor, admin_user):
    read_visit(doctor, graded_visit, right="2", left="1")
    review_sign_off(actor=doctor, visit=graded_visit, password=PASSWORD)
    response = login(admin_user).get(reverse("screening:report", kwargs={"pk": graded_visit.pk}))
    assert response.status_code == 200

"""Crafted requests against a signed report.

Every state-changing web URL of a visit, posted by every kind of user with forged fields and odd
methods, leaves the signed review, its readings, the sign-off and the visit exactly as they were.
The only change a signed report accepts is an addendum, and its author and time are the server's,
whatever the request says."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.urls import reverse

from screening.models import Addendum, EyeReading, FundusImage, Review, SignOff, Visit
from screening.services.review import review_sign_off
from tests.conftest import login
from tests.factories import (
    PASSWORD,
    SiteFactory,
    UserFactory,
    fundus_like_jpeg,
    make_graded_visit,
    read_visit,
)

pytestmark = pytest.mark.django_db

# Every URL that writes something about a visit, with a forged body aimed at the signed data.
FORGED = {
    "screening:review_start": {"reader": "1", "round": "1"},
    "screening:review": {
        "eye": "right",
        "agree": "1",
        "right-gradable": "no",
        "right-grade": "4",
        "right-dme": "present",
        "right-ungradable_reason": "forged",
    },
    "screening:review_submit": {"comment": "forged", "outcome": "1", "outcome_reason": "forged"},
    "screening:review_withdraw": {"review": "1"},
    "screening:sign_off": {"password": PASSWORD, "signed_by": "1"},
    "screening:image_upload": {"eye": "left", "field": "macula"},
}


@pytest.fixture
def signed_visit(nurse, patient, doctor):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=0)
    read_visit(doctor, visit, right="2", left="0", comment="Signed comment")
    review_sign_off(actor=doctor, visit=visit, password=PASSWORD)
    visit.refresh_from_db()
    return visit


@pytest.fixture
def callers(site, nurse, doctor, admin_user):
    other_site = SiteFactory(code="far", name="Far Clinic")
    return {
        "signing doctor": doctor,
        "another doctor of the site": UserFactory(roles=["doctor"], sites=[site]),
        "doctor of another site": UserFactory(roles=["doctor"], sites=[other_site]),
        "nurse": nurse,
        "admin": admin_user,
        "superuser": UserFactory(roles=["admin"], is_superuser=True, is_staff=True),
    }


def state(visit: Visit) -> tuple:
    visit = Visit.objects.get(pk=visit.pk)
    reviews = [model_to_dict(r) for r in Review.objects.filter(visit=visit).order_by("pk")]
    readings = list(EyeReading.objects.filter(review__visit=visit).order_by("pk").values())
    sign_offs = list(SignOff.objects.filter(visit=visit).values())
    images = sorted(FundusImage.objects.filter(visit=visit).values_list("sha256", flat=True))
    return model_to_dict(visit), reviews, readings, sign_offs, images


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_no_crafted_request_changes_a_signed_report(signed_visit, callers, method):
    before = state(signed_visit)
    for who, user in callers.items():
        client = login(user)
        for name, data in FORGED.items():
            url = reverse(name, kwargs={"pk": signed_visit.pk})
            if name == "screening:image_upload" and method == "post":
                photo = fundus_like_jpeg(seed=99)
                data = {**data, "files": SimpleUploadedFile("x.jpg", photo, "image/jpeg")}
            if method == "post":
                response = client.post(url, data)
            else:
                response = getattr(client, method)(url, data, content_type="application/json")
            assert response.status_code < 500, (who, name, method)
            assert state(signed_visit) == before, (who, name, method)
    assert not Addendum.objects.filter(visit=signed_visit).exists()


def test_an_addendum_keeps_the_servers_author_and_time(signed_visit, doctor, callers):
    forger = callers["another doctor of the site"]
    before = state(signed_visit)
    response = login(forger).post(
        reverse("screening:addendum_add", kwargs={"pk": signed_visit.pk}),
        {
            "reason": "Typo in the comment",
            "text": "Right eye: moderate NPDR, as graded.",
            "author": str(doctor.pk),
            "created_at": "2001-01-01T00:00:00Z",
            "visit": "999999",
        },
    )
    assert response.status_code == 302
    addendum = Addendum.objects.get(visit=signed_visit)
    assert addendum.author == forger
    assert addendum.created_at.year > 2001
    assert state(signed_visit)[1:] == before[1:]  # reviews, readings, sign-off, images untouched


@pytest.mark.parametrize("who", ["nurse", "doctor of another site"])
def test_addenda_come_only_from_doctors_of_the_site(signed_visit, callers, who):
    response = login(callers[who]).post(
        reverse("screening:addendum_add", kwargs={"pk": signed_visit.pk}),
        {"reason": "forged", "text": "forged"},
    )
    assert response.status_code in (403, 404)
    assert not Addendum.objects.filter(visit=signed_visit).exists()

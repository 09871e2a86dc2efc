"""List endpoints cost a fixed number of queries, however many rows: 50 patients, each with two
visits of two photographs and their gradings."""

import uuid

import factory
import pytest
from django.urls import reverse

from screening.models import FundusImage, GradingJob, Visit
from tests.factories import PatientFactory

BUDGET = 9  # token, its sites, last use, roles, count, page, prefetches: never per row


@pytest.fixture
def fifty_patients(site, nurse, outsider):
    family_names = factory.Iterator(["Khan", "Okafor", "Smith", "Jones", "Patel"])
    patients = PatientFactory.create_batch(
        50, site=site, created_by=nurse, given_name="Sam", family_name=family_names
    )
    visits = Visit.objects.bulk_create(
        Visit(patient=p, site=site, captured_by=nurse, visit_date=f"2026-01-{day:02d}")
        for p in patients
        for day in (10, 20)
    )
    images = FundusImage.objects.bulk_create(
        FundusImage(
            id=uuid.uuid4(),
            visit=v,
            eye=eye,
            field="macula",
            file=f"x/{v.pk}{eye}.jpg",
            thumbnail=f"x/{v.pk}{eye}_t.jpg",
            sha256=f"{v.pk:032d}{eye:>32}"[:64],
            byte_size=1000,
            width=512,
            height=512,
            content_type="image/jpeg",
            original_filename="a.jpg",
            uploaded_by=nurse,
        )
        for v in visits
        for eye in ("right", "left")
    )
    GradingJob.objects.bulk_create(
        GradingJob(image=i, model_version="m1", status=GradingJob.Status.SUCCEEDED) for i in images
    )
    return patients, visits


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("api:patient-list", {"page_size": 50}, 50),
        ("api:patient-list", {"page_size": 50, "q": "khan", "ordering": "-created_at"}, 10),
        ("api:visit-list", {"page_size": 100}, 100),
        (
            "api:visit-list",
            {"page_size": 100, "status": "capturing", "ordering": "visit_date"},
            100,
        ),
        ("api:visit-list", {"page_size": 100, "status": "signed"}, 0),
    ],
)
def test_list_endpoints_have_a_query_budget(
    api, fifty_patients, name, params, expected, django_assert_max_num_queries
):
    api.get(reverse("api:token"))  # the token's last use is written once a minute, not per list
    with django_assert_max_num_queries(BUDGET):
        response = api.get(reverse(name), params)
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == expected and body["count"] == expected
    if "q" in params:
        assert {row["family_name"] for row in body["results"]} == {"Khan"}


def test_visit_detail_results_and_images_have_a_query_budget(
    api, fifty_patients, django_assert_max_num_queries
):
    _, visits = fifty_patients
    api.get(reverse("api:token"))
    for name in ("api:visit-detail", "api:visit-results", "api:visit-images"):
        with django_assert_max_num_queries(BUDGET + 2):  # + the audit event's insert
            response = api.get(reverse(name, kwargs={"pk": visits[0].pk}))
        assert response.status_code == 200


def test_session_users_lists_have_the_same_budget(
    nurse, fifty_patients, django_assert_max_num_queries
):
    from tests.conftest import session_client

    client = session_client(nurse)
    client.get(reverse("api:token"))
    with django_assert_max_num_queries(BUDGET):
        assert client.get(reverse("api:visit-list"), {"page_size": 100}).status_code == 200

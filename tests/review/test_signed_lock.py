"""A signed review cannot be changed by any route: view POST, service call, model save and delete,
queryset update and delete, Django admin, and raw SQL (the PostgreSQL trigger). Audit rows written
by the review cannot be deleted by any role."""

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from audit.models import AuditEvent, AuditTrailIsAppendOnly
from screening.models import (
    Addendum,
    EyeReading,
    OutcomeRule,
    Review,
    SignedRecordLocked,
    SignOff,
)
from screening.rules import Grade
from screening.services.review import (
    addendum_add,
    eye_reading_record,
    review_sign_off,
    review_start,
    review_submit,
)
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory, read_visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed(graded_visit, doctor):
    review = read_visit(doctor, graded_visit, right="2", left="1", comment="Signed comment")
    review_sign_off(actor=doctor, visit=graded_visit, password=PASSWORD)
    graded_visit.refresh_from_db()
    return review


def snapshot(review):
    review = Review.objects.get(pk=review.pk)
    readings = list(EyeReading.objects.filter(review=review).values())
    return (review.comment, review.outcome_id, review.overall_grade, review.submitted_at, readings)


def test_view_posts_change_nothing(signed, doctor):
    before = snapshot(signed)
    client = login(doctor)
    visit_pk = signed.visit_id
    for name, data in [
        ("review_start", {}),
        (
            "review",
            {"eye": "right", "right-gradable": "yes", "right-grade": "0", "right-dme": "absent"},
        ),
        ("review", {"eye": "left", "agree": "1", "left-gradable": "yes", "left-dme": "absent"}),
        ("review_submit", {"comment": "changed"}),
        ("sign_off", {"password": PASSWORD}),
    ]:
        response = client.post(reverse(f"screening:{name}", kwargs={"pk": visit_pk}), data)
        assert response.status_code in (200, 302)
    assert snapshot(signed) == before
    assert SignOff.objects.filter(visit_id=visit_pk).count() == 1


def test_service_calls_are_refused(signed, doctor, doctor2):
    with pytest.raises(ValidationError):
        review_start(actor=doctor2, visit=signed.visit)
    with pytest.raises(ValidationError):
        eye_reading_record(
            actor=doctor, review=signed, eye="right", gradable=True, grade=Grade.NO_DR, dme="absent"
        )
    with pytest.raises(ValidationError):
        review_submit(actor=doctor, review=signed, comment="changed")
    with pytest.raises(ValidationError):
        review_sign_off(actor=doctor, visit=signed.visit, password=PASSWORD)


def test_model_save_and_delete_are_refused(signed):
    review = Review.objects.get(pk=signed.pk)
    review.comment = "changed"
    with pytest.raises(SignedRecordLocked):
        review.save()
    with pytest.raises(SignedRecordLocked):
        review.delete()
    reading = EyeReading.objects.filter(review=signed).first()
    reading.grade = "0"
    with pytest.raises(SignedRecordLocked):
        reading.save()
    with pytest.raises(SignedRecordLocked):
        reading.delete()
    with pytest.raises(SignedRecordLocked):
        Review(visit=signed.visit, round="second", reader=signed.reader).save()
    sign_off = SignOff.objects.get(visit=signed.visit)
    sign_off.signed_at = sign_off.signed_at.replace(year=2020)
    with pytest.raises(SignedRecordLocked):
        sign_off.save()
    with pytest.raises(SignedRecordLocked):
        sign_off.delete()


def test_queryset_update_and_delete_are_refused(signed, doctor):
    addendum_add(actor=doctor, visit=signed.visit, reason="r", text="t")
    refused = [
        lambda: Review.objects.filter(pk=signed.pk).update(comment="changed"),
        lambda: Review.objects.all().update(outcome=OutcomeRule.objects.get(key="0")),
        lambda: EyeReading.objects.filter(review=signed).update(grade="0"),
        lambda: EyeReading.objects.all().delete(),
        lambda: Review.objects.all().delete(),
        lambda: SignOff.objects.all().update(signed_by=doctor),
        lambda: SignOff.objects.all().delete(),
        lambda: Addendum.objects.all().update(text="rewritten"),
        lambda: Addendum.objects.all().delete(),
    ]
    for attempt in refused:
        with pytest.raises(SignedRecordLocked):
            attempt()
    assert snapshot(signed)[0] == "Signed comment"


def test_unsigned_drafts_can_still_be_updated(graded_visit, doctor):
    review = read_visit(doctor, graded_visit, right="2", left="1", submit=False)
    assert Review.objects.filter(pk=review.pk).update(comment="draft note") == 1


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE screening_review SET comment = 'changed' WHERE id = %s",
        "DELETE FROM screening_eyereading WHERE review_id = %s",
        "UPDATE screening_eyereading SET grade = '0' WHERE review_id = %s",
        "UPDATE screening_signoff SET ai_jobs = '[]' WHERE review_id = %s",
        "UPDATE screening_visit SET camera = 'x' WHERE id IN "
        "(SELECT visit_id FROM screening_review WHERE id = %s)",
        "UPDATE screening_visit SET status = 'in_review' WHERE id IN "
        "(SELECT visit_id FROM screening_review WHERE id = %s)",
    ],
)
def test_the_database_refuses_raw_sql(signed, sql):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL's")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [signed.pk])
    assert snapshot(signed)[0] == "Signed comment"


def test_django_admin_cannot_change_or_delete(signed, admin_user):
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    for user in (admin_user, superuser):
        client = login(user)
        change = reverse("admin:screening_review_change", args=[signed.pk])
        assert client.post(change, {"comment": "changed"}).status_code in (302, 403)
        delete = reverse("admin:screening_review_delete", args=[signed.pk])
        assert client.post(delete, {"post": "yes"}).status_code in (302, 403)
        sign_off = SignOff.objects.get(visit=signed.visit)
        assert client.post(
            reverse("admin:screening_signoff_delete", args=[sign_off.pk]), {"post": "yes"}
        ).status_code in (302, 403)
    assert snapshot(signed)[0] == "Signed comment"
    assert SignOff.objects.filter(visit=signed.visit).exists()
    page = login(superuser).get(reverse("admin:screening_review_change", args=[signed.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content  # view only


def test_review_audit_rows_cannot_be_deleted_by_any_role(signed, doctor, admin_user, nurse):
    events = AuditEvent.objects.filter(action__in=["review.submit", "review.sign_off"])
    assert events.count() == 2
    event = events.first()
    with pytest.raises(AuditTrailIsAppendOnly):
        event.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        events.delete()
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    for user in (nurse, doctor, admin_user, superuser):
        response = login(user).post(
            reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}
        )
        assert response.status_code in (302, 403)
    assert AuditEvent.objects.filter(pk=event.pk).exists()

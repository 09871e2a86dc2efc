"""The review workflow through its services: outcome from the doctor's grades, the two-reader rule
(agreement, blind second reading, arbitration), sign-off with the password, addenda."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEvent
from screening.models import OutcomeRule, Review, SignOff, Visit
from screening.selectors import review_progress
from screening.services.review import (
    addendum_add,
    review_sign_off,
    review_start,
    review_withdraw,
)
from tests.factories import PASSWORD, make_graded_visit, read_visit

pytestmark = pytest.mark.django_db


def progress(visit):
    return review_progress(Visit.objects.get(pk=visit.pk))


def test_agreement_path_primary_reader_signs(graded_visit, doctor):
    review = read_visit(doctor, graded_visit, right="2", left="1")
    assert (review.overall_grade, review.referable, review.outcome.key) == ("2", True, "2")
    state = progress(graded_visit)
    assert state.step == "sign" and state.final == review
    sign_off = review_sign_off(actor=doctor, visit=graded_visit, password=PASSWORD)
    graded_visit.refresh_from_db()
    assert graded_visit.status == Visit.Status.SIGNED
    assert sign_off.review == review and sign_off.signed_by == doctor
    assert len(sign_off.ai_jobs) == 2


def test_one_step_non_referable_difference_needs_no_second_reader(nurse, patient, doctor):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=0, left=0)
    read_visit(doctor, visit, right="1", left="0")
    assert progress(visit).step == "sign"


def test_crossing_the_referable_line_needs_a_blind_second_reader(graded_visit, doctor, doctor2):
    read_visit(doctor, graded_visit, right="1", left="1")  # AI said 2 on the right
    state = progress(graded_visit)
    assert state.step == "second" and "right" in state.reason
    with pytest.raises(ValidationError):
        review_sign_off(actor=doctor, visit=graded_visit, password=PASSWORD)
    with pytest.raises(ValidationError, match="another doctor"):
        review_start(actor=doctor, visit=graded_visit)
    second = read_visit(doctor2, graded_visit, right="1", left="1")
    state = progress(graded_visit)
    assert state.step == "sign" and state.final == second
    with pytest.raises(PermissionDenied):
        review_sign_off(actor=doctor, visit=graded_visit, password=PASSWORD)
    review_sign_off(actor=doctor2, visit=graded_visit, password=PASSWORD)


def test_two_step_difference_needs_a_second_reader(nurse, patient, doctor):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=4, left=0)
    read_visit(doctor, visit, right="2", left="0")
    assert progress(visit).step == "second"


def test_readers_disagreeing_go_to_arbitration_by_a_third(graded_visit, doctor, doctor2, doctor3):
    read_visit(doctor, graded_visit, right="0", left="1")
    read_visit(doctor2, graded_visit, right="3", left="1")
    assert progress(graded_visit).step == "arbitration"
    with pytest.raises(ValidationError):
        review_start(actor=doctor2, visit=graded_visit)
    arbitration = read_visit(doctor3, graded_visit, right="3", left="1")
    assert arbitration.round == Review.Round.ARBITRATION
    state = progress(graded_visit)
    assert state.step == "sign" and state.final == arbitration
    review_sign_off(actor=doctor3, visit=graded_visit, password=PASSWORD)
    assert SignOff.objects.get(visit=graded_visit).review == arbitration


def test_the_rule_is_a_setting(graded_visit, doctor, settings):
    settings.REVIEW_SECOND_READER_ON_REFERABLE_CHANGE = False
    read_visit(doctor, graded_visit, right="1", left="1")
    assert progress(graded_visit).step == "sign"


def test_ungradable_eye_is_never_grade_0_and_leads_to_reimage(nurse, patient, doctor):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=0, left=None)
    review = read_visit(doctor, visit, right="0", left="U")
    assert (review.overall_grade, review.referable, review.outcome.key) == ("U", None, "U")


def test_dme_raises_the_outcome_to_referral(nurse, patient, doctor):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=1, left=0)
    review = read_visit(doctor, visit, right="1", left="0", dme="present")
    assert (review.overall_grade, review.referable, review.outcome.key) == ("1", True, "DME")


def test_changing_the_outcome_needs_a_reason(graded_visit, doctor):
    urgent = OutcomeRule.objects.get(key="4")
    with pytest.raises(ValidationError, match="differs"):
        read_visit(doctor, graded_visit, right="2", left="1", outcome=urgent)
    review = Review.objects.get(visit=graded_visit)
    from screening.services.review import review_submit

    review = review_submit(actor=doctor, review=review, outcome=urgent, outcome_reason="Symptoms")
    assert review.recommended_outcome.key == "2" and review.outcome == urgent


def test_sign_off_needs_the_signers_password(graded_visit, doctor):
    read_visit(doctor, graded_visit, right="2", left="1")
    with pytest.raises(ValidationError, match="password"):
        review_sign_off(actor=doctor, visit=graded_visit, password="wrong")
    assert not SignOff.objects.exists()
    assert AuditEvent.objects.filter(action="review.sign_off_refused", actor=doctor).exists()


def test_nurse_and_other_site_doctor_cannot_review(graded_visit, nurse, outsider):
    for user in (nurse, outsider):
        with pytest.raises(PermissionDenied):
            review_start(actor=user, visit=graded_visit)


def test_addendum_only_on_signed_reports(graded_visit, doctor):
    with pytest.raises(ValidationError):
        addendum_add(actor=doctor, visit=graded_visit, reason="x", text="y")
    read_visit(doctor, graded_visit, right="2", left="1")
    review_sign_off(actor=doctor, visit=graded_visit, password=PASSWORD)
    first = addendum_add(actor=doctor, visit=graded_visit, reason="Typo", text="Left eye: 1.")
    second = addendum_add(actor=doctor, visit=graded_visit, reason="Letter", text="Sent.")
    assert list(graded_visit.addenda.all()) == [first, second]


def test_repeated_wrong_passwords_pause_signing(graded_visit, doctor, settings):
    settings.AXES_FAILURE_LIMIT = 3
    read_visit(doctor, graded_visit, right="2", left="1")
    for _ in range(3):
        with pytest.raises(ValidationError, match="password"):
            review_sign_off(actor=doctor, visit=graded_visit, password="guess")
    with pytest.raises(ValidationError, match="Too many"):
        review_sign_off(actor=doctor, visit=graded_visit, password=PASSWORD)
    assert not SignOff.objects.exists()


def test_a_draft_is_withdrawn_by_its_reader_or_by_another_doctor_when_stale(
    graded_visit, doctor, doctor2
):
    draft = read_visit(doctor, graded_visit, right="2", left="1", submit=False)
    with pytest.raises(ValidationError, match="already doing"):
        review_start(actor=doctor2, visit=graded_visit)
    with pytest.raises(PermissionDenied):
        review_withdraw(actor=doctor2, review=draft)
    Review.objects.filter(pk=draft.pk).update(started_at=draft.started_at.replace(year=2025))
    review_withdraw(actor=doctor2, review=draft)
    assert not Review.objects.filter(pk=draft.pk).exists()
    graded_visit.refresh_from_db()
    assert graded_visit.status == Visit.Status.AWAITING_REVIEW
    event = AuditEvent.objects.get(action="review.withdraw")
    assert event.actor == doctor2 and event.changes["readings"][0]["right"]["grade"] == "2"
    assert review_start(actor=doctor2, visit=graded_visit).reader == doctor2


def test_a_submitted_reading_cannot_be_withdrawn(graded_visit, doctor):
    review = read_visit(doctor, graded_visit, right="1", left="1")
    with pytest.raises(ValidationError):
        review_withdraw(actor=doctor, review=review)


def test_no_photograph_is_added_once_a_doctor_reads_the_visit(graded_visit, doctor, nurse):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from screening.services.images import image_attach
    from tests.factories import fundus_like_jpeg

    review_start(actor=doctor, visit=graded_visit)
    photo = SimpleUploadedFile("late.jpg", fundus_like_jpeg(seed=42), content_type="image/jpeg")
    with pytest.raises(ValidationError, match="already reviewing"):
        image_attach(actor=nurse, visit=graded_visit, upload=photo, eye="left", field="macula")
    assert graded_visit.images.count() == 2
    graded_visit.refresh_from_db()
    assert graded_visit.status == Visit.Status.IN_REVIEW

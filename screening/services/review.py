"""Every write of the doctors' review: start a reading, record each eye, submit, sign off with the
password, and add addenda to a signed report. Each write is recorded in the audit trail,
with the request's `AuditContext` (`audit=`) when a view calls it.

Workflow (screening.selectors.review_progress): a primary reading; a blind second reading when the
primary doctor's grade disagrees with the AI's (settings.REVIEW_SECOND_READER_*); arbitration by a
third doctor when the two disagree. The last reading needed is the final one; its reader signs.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role, has_role, sites_for
from audit.models import AuditEvent
from audit.services import AuditContext, audit_record
from patients.models import Patient
from screening.models import Addendum, Dme, EyeReading, OutcomeRule, Review, SignOff, Visit
from screening.rules import EYES, Grade, grade_code, review_summary
from screening.selectors import latest_gradings, review_progress

REVIEWABLE = (Visit.Status.AWAITING_REVIEW, Visit.Status.IN_REVIEW)


def _ensure_doctor_at_site(actor: User, visit: Visit) -> None:
    if not has_role(actor, Role.DOCTOR) or not sites_for(actor).filter(pk=visit.site_id).exists():
        raise PermissionDenied("Only a doctor working at this visit's site can do this.")


def _ensure_not_signed(visit: Visit) -> None:
    if SignOff.objects.filter(visit_id=visit.pk).exists():
        raise ValidationError(
            "This report is signed: it can no longer be changed. Add an addendum instead.",
            "locked",
        )


def _ensure_own_draft(actor: User, review: Review) -> None:
    if review.reader_id != actor.pk:
        raise PermissionDenied("This reading belongs to another doctor.")
    if review.is_submitted:
        raise ValidationError("This reading has been submitted; it can no longer be changed.")
    _ensure_not_signed(review.visit)


@transaction.atomic
def review_start(*, actor: User, visit: Visit, audit: AuditContext | None = None) -> Review:
    """Start (or return the actor's open) reading of the round the visit needs next.

    A doctor reads a visit at most once: the second reader and the arbiter are other doctors.
    """
    _ensure_doctor_at_site(actor, visit)
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    _ensure_not_signed(visit)
    if visit.status == Visit.Status.CAPTURING:
        raise ValidationError("This visit is not ready for review: it has no photographs yet.")
    if visit.status not in REVIEWABLE:
        raise ValidationError("This visit is not ready for review: AI grading has not finished.")
    progress = review_progress(visit)
    if progress.reading_round is None:
        raise ValidationError("Every reading this visit needs is in; it is ready for sign-off.")
    draft = progress.open_review()
    if draft is not None:
        if draft.reader_id == actor.pk:
            return draft
        raise ValidationError(f"{draft.reader} is already doing this reading.")
    if progress.has_read(actor):
        raise ValidationError(
            "You have already read this visit; the next reading must be by another doctor."
        )
    review = Review(visit=visit, round=progress.reading_round, reader=actor)
    review.full_clean()
    review.save()
    if visit.status != Visit.Status.IN_REVIEW:
        visit.status = Visit.Status.IN_REVIEW
        visit.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action="review.start",
        obj=review,
        changes={"round": review.round},
        context=audit,
    )
    return review


@transaction.atomic
def review_withdraw(*, actor: User, review: Review, audit: AuditContext | None = None) -> None:
    """Withdraw a draft reading (never a submitted one) so that another doctor can do it: by its
    reader at any time, or by another doctor at the site once it has been left for
    settings.REVIEW_DRAFT_STALE_HOURS. What the draft held is kept in the audit trail."""
    review = Review.objects.select_for_update().select_related("visit").get(pk=review.pk)
    _ensure_doctor_at_site(actor, review.visit)
    _ensure_not_signed(review.visit)
    if review.is_submitted:
        raise ValidationError("A submitted reading cannot be withdrawn.")
    stale = timezone.now() - timedelta(hours=settings.REVIEW_DRAFT_STALE_HOURS)
    if review.reader_id != actor.pk and review.started_at > stale:
        raise PermissionDenied(
            f"{review.reader} started this reading recently; only they can withdraw it now."
        )
    readings = {r.eye: _reading_fields(r) for r in review.eye_readings.all()}
    audit_record(
        actor=actor,
        action="review.withdraw",
        obj=review,
        changes={
            "round": [review.round, None],
            "reader": [str(review.reader), None],
            "readings": [readings, None],
        },
        context=audit,
    )
    review.eye_readings.all().delete()
    review.delete()
    visit = review.visit
    if not visit.reviews.exists() and visit.status == Visit.Status.IN_REVIEW:
        visit.status = Visit.Status.AWAITING_REVIEW
        visit.save(update_fields=["status", "updated_at"])


@transaction.atomic
def eye_reading_record(
    *,
    actor: User,
    review: Review,
    eye: str,
    gradable: bool,
    grade: Grade | None = None,
    dme: str = Dme.ABSENT,
    ungradable_reason: str = "",
    comment: str = "",
    audit: AuditContext | None = None,
) -> EyeReading:
    """Record (or replace) the actor's grading of one eye in their draft reading.

    An ungradable eye has no grade and needs a reason; it is never graded 0.
    """
    review = Review.objects.select_related("visit").get(pk=review.pk)
    _ensure_own_draft(actor, review)
    if gradable and grade is None:
        raise ValidationError({"grade": "Choose the ICDR grade, or mark the eye ungradable."})
    if not gradable and not ungradable_reason.strip():
        raise ValidationError({"ungradable_reason": "Say why the eye cannot be graded."})
    visit = review.visit
    reading = EyeReading.objects.filter(review=review, eye=eye).first() or EyeReading(
        review=review, eye=eye
    )
    before = _reading_fields(reading) if reading.pk else {}
    reading.gradable = gradable
    reading.grade = grade_code(grade) if gradable else ""
    reading.dme = dme
    reading.ungradable_reason = "" if gradable else ungradable_reason.strip()
    reading.comment = comment
    reading.ai_grade = grade_code(visit.ai_grade(eye))
    reading.recorded_at = timezone.now()
    reading.full_clean()
    reading.save()
    after = _reading_fields(reading)
    audit_record(
        actor=actor,
        action="eye_reading.record",
        obj=reading,
        changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v},
        context=audit,
    )
    return reading


def _reading_fields(reading: EyeReading) -> dict[str, object]:
    return {
        "eye": reading.eye,
        "gradable": reading.gradable,
        "grade": reading.grade,
        "dme": reading.dme,
        "ungradable_reason": reading.ungradable_reason,
        "comment": reading.comment,
    }


@transaction.atomic
def review_submit(
    *,
    actor: User,
    review: Review,
    outcome: OutcomeRule | None = None,
    outcome_reason: str = "",
    comment: str = "",
    audit: AuditContext | None = None,
) -> Review:
    """Submit the actor's reading: derive the overall grade, referable status and recommended
    outcome from the per-eye grades and DME (outcome table), and keep the doctor's outcome when it
    differs from the recommendation, which needs a reason. Both eyes must be read."""
    review = Review.objects.select_for_update().select_related("visit").get(pk=review.pk)
    _ensure_own_draft(actor, review)
    readings = list(review.eye_readings.all())
    missing = set(EYES) - {r.eye for r in readings}
    if missing:
        raise ValidationError(
            f"Record the {' and '.join(sorted(missing))} eye first "
            "(mark an eye without a usable photograph as ungradable)."
        )
    summary = review_summary(readings)
    recommended = OutcomeRule.objects.filter(key=summary.outcome_key).first()
    if recommended is None:
        raise ValidationError(
            f"The outcome table has no rule for '{summary.outcome_key}'; ask an administrator."
        )
    if outcome is not None and outcome != recommended:
        if not outcome_reason.strip():
            raise ValidationError(
                {"outcome_reason": "Say why the outcome differs from the recommended one."}
            )
    else:
        outcome, outcome_reason = recommended, ""
    review.overall_grade, review.referable = summary.overall, summary.referable
    review.recommended_outcome, review.outcome = recommended, outcome
    review.outcome_reason, review.comment = outcome_reason.strip(), comment
    review.submitted_at = timezone.now()
    review.full_clean()
    review.save()
    audit_record(
        actor=actor,
        action="review.submit",
        obj=review,
        changes={
            "overall_grade": [None, grade_code(summary.overall)],
            "referable": [None, summary.referable],
            "recommended_outcome": [None, recommended.key],
            "outcome": [None, outcome.key],
        },
        context=audit,
    )
    return review


def review_sign_off(
    *, actor: User, visit: Visit, password: str, audit: AuditContext | None = None
) -> SignOff:
    """Sign the visit's report after the actor confirms their password; the report is then locked.

    Only the reader of the final reading signs, once every reading the visit needs is in. The AI
    results shown at signing are pinned, so a later model's results never change the report. A
    wrong password is recorded in the audit trail (outside the transaction, so it stays).
    """
    _ensure_doctor_at_site(actor, visit)
    since = timezone.now() - timedelta(hours=settings.AXES_COOLOFF_TIME)
    refused = AuditEvent.objects.filter(
        actor=actor, action="review.sign_off_refused", created_at__gte=since
    )
    if refused.count() >= settings.AXES_FAILURE_LIMIT:  # the sign-in lockout's limits
        raise ValidationError("Too many wrong passwords: signing is paused; try again later.")
    if not password or not actor.check_password(password):
        audit_record(actor=actor, action="review.sign_off_refused", obj=visit, context=audit)
        raise ValidationError({"password": "That is not your password."})
    with transaction.atomic():
        return _sign(actor, visit, audit)


def _sign(actor: User, visit: Visit, audit: AuditContext | None) -> SignOff:
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    _ensure_not_signed(visit)
    progress = review_progress(visit)
    if progress.final is None or progress.step != "sign":
        raise ValidationError("The visit cannot be signed yet: a reading is still needed.")
    if progress.final.reader_id != actor.pk:
        raise PermissionDenied(f"The final reading is {progress.final.reader}'s; they sign it.")
    jobs = [job.pk for job in latest_gradings(visit).values() if job is not None]
    # The visit first: once the sign-off exists, PostgreSQL refuses changes to the visit row.
    visit.status = Visit.Status.SIGNED
    visit.save(update_fields=["status", "updated_at"])
    sign_off = SignOff.objects.create(
        visit=visit,
        review=progress.final,
        signed_by=actor,
        ai_jobs=sorted(jobs),
        patient_as_signed=patient_details(visit.patient),
    )
    audit_record(
        actor=actor,
        action="review.sign_off",
        obj=visit,
        changes={"review": [None, progress.final.pk], "outcome": [None, progress.final.outcome_id]},
        context=audit,
    )
    return sign_off


def patient_details(patient: Patient) -> dict[str, str]:
    """What a report states about the patient; frozen in the sign-off so that a later correction
    in the registry shows beside the signed report instead of silently rewriting it. Codes and ISO
    dates, never display labels: renderers derive labels, so relabelling a choice is no change."""
    return {
        "mrn": patient.mrn,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
    }


@transaction.atomic
def addendum_add(
    *, actor: User, visit: Visit, reason: str, text: str, audit: AuditContext | None = None
) -> Addendum:
    """Add a correction or addition to a signed report (author and time recorded; never changed)."""
    _ensure_doctor_at_site(actor, visit)
    if not SignOff.objects.filter(visit_id=visit.pk).exists():
        raise ValidationError("Addenda are for signed reports; change the reading instead.")
    addendum = Addendum(visit=visit, author=actor, reason=reason.strip(), text=text.strip())
    addendum.full_clean()
    addendum.save()
    audit_record(
        actor=actor,
        action="addendum.add",
        obj=addendum,
        changes={"reason": [None, reason]},
        context=audit,
    )
    return addendum

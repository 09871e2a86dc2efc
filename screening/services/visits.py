"""Every write to screening visits, each recorded in the audit trail."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from accounts.models import User
from accounts.roles import sites_for
from audit.services import AuditContext, audit_record
from patients.models import Patient
from screening.models import Visit

EDITABLE_FIELDS = (
    "visit_date",
    "dilated",
    "visual_acuity_right",  # right eye first, as on every page and report
    "visual_acuity_left",
    "camera",
    "notes",
)


@transaction.atomic
def visit_create(
    *, actor: User, patient: Patient, audit: AuditContext | None = None, **fields: object
) -> Visit:
    """Open a screening visit for a patient at the patient's site, captured by the actor, and
    record it in the audit trail (`audit`: where the request came from)."""
    if not sites_for(actor).filter(pk=patient.site_id).exists():
        raise PermissionDenied("You do not work at this patient's site.")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    visit = Visit(patient=patient, site_id=patient.site_id, captured_by=actor, **fields)
    visit.full_clean()
    visit.save()
    audit_record(
        actor=actor,
        action="visit.create",
        obj=visit,
        changes={"patient": visit.patient_id},
        context=audit,
    )
    return visit


def ensure_visit_open(visit: Visit) -> None:
    if visit.is_locked:
        raise ValidationError(
            "This visit's report is signed; it can no longer be changed (a doctor can add an "
            "addendum to the report).",
            "locked",
        )


def ensure_visit_accepts_images(visit: Visit) -> None:
    ensure_visit_open(visit)
    if not visit.accepts_images:
        raise ValidationError(
            "A doctor is already reviewing this visit, so no photographs can be added to it. "
            "Ask the doctor to withdraw the draft reading, or record a new visit.",
            "in_review",
        )

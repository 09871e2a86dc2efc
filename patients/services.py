"""Every write to the patient registry, each recorded in the audit trail."""

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import Site, User
from accounts.roles import sites_for
from audit.services import AuditContext, audit_record, changed_fields
from patients.models import Patient

EDITABLE_FIELDS = (
    "mrn",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "diabetes_type",
    "diagnosis_year",
    "phone",
    "email",
    "address",
)


def _check_site(actor: User, site: Site) -> None:
    if not sites_for(actor).filter(pk=site.pk).exists():
        raise PermissionDenied("You do not work at this site.")


@transaction.atomic
def patient_create(
    *, actor: User, site: Site, audit: AuditContext | None = None, **fields: object
) -> Patient:
    """Register a patient at a site. Raises ValidationError for a duplicate MRN or bad dates.
    `audit` is where the request came from (see audit.services.AuditContext)."""
    _check_site(actor, site)
    patient = Patient(site=site, created_by=actor, **_only_editable(fields))
    patient.full_clean()
    patient.save()
    audit_record(
        actor=actor,
        action="patient.create",
        obj=patient,
        changes={"site": site.code, "mrn": patient.mrn},
        context=audit,
    )
    return patient


@transaction.atomic
def patient_update(
    *, actor: User, patient: Patient, audit: AuditContext | None = None, **fields: object
) -> Patient:
    """Change a patient's registry details (the site is fixed once registered); the audit trail
    records each field that changed, [before, after], against the stored row (a ModelForm may
    already have changed `patient` in memory)."""
    _check_site(actor, patient.site)
    stored = Patient.objects.select_for_update().get(pk=patient.pk)
    before = {name: getattr(stored, name) for name in EDITABLE_FIELDS}
    for name, value in _only_editable(fields).items():
        setattr(patient, name, value)
    patient.full_clean()
    patient.save()
    audit_record(
        actor=actor,
        action="patient.update",
        obj=patient,
        changes=changed_fields(patient, before),
        context=audit,
    )
    return patient


def _only_editable(fields: dict[str, object]) -> dict[str, object]:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    return fields

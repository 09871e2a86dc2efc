"""Every write to the patient registry."""

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import Site, User
from accounts.roles import sites_for
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
def patient_create(*, actor: User, site: Site, **fields: object) -> Patient:
    """Register a patient at a site. Raises ValidationError for a duplicate MRN or bad dates."""
    _check_site(actor, site)
    patient = Patient(site=site, created_by=actor, **_only_editable(fields))
    patient.full_clean()
    patient.save()
    return patient


@transaction.atomic
def patient_update(*, actor: User, patient: Patient, **fields: object) -> Patient:
    """Change a patient's registry details (the site is fixed once registered)."""
    _check_site(actor, patient.site)
    for name, value in _only_editable(fields).items():
        setattr(patient, name, value)
    patient.full_clean()
    patient.save()
    return patient


def _only_editable(fields: dict[str, object]) -> dict[str, object]:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    return fields

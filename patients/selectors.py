"""Every read of patients, already scoped to the sites the user may see."""

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.roles import sites_for
from patients.models import Patient


def patients_for_user(user: User) -> QuerySet[Patient]:
    return Patient.objects.filter(site__in=sites_for(user)).select_related("site")


def patient_search(*, user: User, query: str = "") -> QuerySet[Patient]:
    """Patients visible to the user, matching an MRN prefix or any part of a name."""
    patients = (
        patients_for_user(user)
        .annotate(visit_count=Count("visits"))
        .order_by("family_name", "given_name", "pk")  # GROUP BY drops Meta.ordering
    )
    for term in query.split():
        patients = patients.filter(
            Q(mrn__istartswith=term)
            | Q(given_name__icontains=term)
            | Q(family_name__icontains=term)
        )
    return patients


def get_patient_for_user(user: User, pk: int) -> Patient:
    """The patient, or 404 when it does not exist or belongs to a site the user cannot see."""
    return get_object_or_404(patients_for_user(user), pk=pk)

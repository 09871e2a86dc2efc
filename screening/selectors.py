"""Every read of visits and images, already scoped to the sites the user may see."""

import uuid

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.roles import sites_for
from patients.models import Patient
from screening.models import FundusImage, Visit


def visits_for_user(user: User) -> QuerySet[Visit]:
    return Visit.objects.filter(site__in=sites_for(user)).select_related(
        "patient", "site", "captured_by"
    )


def visits_for_patient(*, user: User, patient: Patient) -> QuerySet[Visit]:
    return visits_for_user(user).filter(patient=patient).annotate(image_count=Count("images"))


def get_visit_for_user(user: User, pk: int) -> Visit:
    """The visit, or 404 when it does not exist or is at a site the user cannot see."""
    return get_object_or_404(visits_for_user(user), pk=pk)


def images_for_visit(visit: Visit) -> QuerySet[FundusImage]:
    return visit.images.select_related("uploaded_by").order_by("eye", "field", "uploaded_at")


def get_image_for_user(user: User, pk: uuid.UUID) -> FundusImage:
    return get_object_or_404(
        FundusImage.objects.filter(visit__site__in=sites_for(user)).select_related("visit"), pk=pk
    )


def recent_visits(*, user: User, limit: int = 10) -> QuerySet[Visit]:
    return visits_for_user(user).annotate(image_count=Count("images"))[:limit]

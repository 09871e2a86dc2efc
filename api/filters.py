"""Filters of the list endpoints (django-filter); search and site scoping come from selectors."""

import datetime

import django_filters
from django import forms
from django.db.models import QuerySet

from patients.models import Patient
from screening.models import Visit


class PatientFilter(django_filters.FilterSet):
    site = django_filters.NumberFilter(field_name="site_id", help_text="Site id.")
    mrn = django_filters.CharFilter(help_text="Exact medical record number.")
    born = django_filters.DateFilter(field_name="date_of_birth", help_text="Date of birth.")

    class Meta:
        model = Patient
        fields = ["site", "mrn", "born", "diabetes_type", "sex"]


class VisitFilter(django_filters.FilterSet):
    patient = django_filters.NumberFilter(field_name="patient_id", help_text="Patient id.")
    site = django_filters.NumberFilter(field_name="site_id", help_text="Site id.")
    date_from = django_filters.DateFilter(field_name="visit_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="visit_date", lookup_expr="lte")
    updated_since = django_filters.IsoDateTimeFilter(
        method="filter_updated_since",
        help_text="Only visits changed at or after this time (ISO 8601), for incremental polling.",
    )

    class Meta:
        model = Visit
        fields = ["patient", "site", "status", "date_from", "date_to", "updated_since"]

    def filter_updated_since(
        self, visits: QuerySet[Visit], name: str, value: datetime.datetime
    ) -> QuerySet[Visit]:
        # In UTC: PostgreSQL refuses offsets Python accepts (up to 24 h), e.g. -18:53.
        try:
            value = value.astimezone(datetime.UTC)
        except OverflowError:
            raise forms.ValidationError("The time is out of range.") from None
        return visits.filter(updated_at__gte=value)

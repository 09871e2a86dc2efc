"""Filters of the list endpoints (django-filter); search and site scoping come from selectors.

Every filter means what the schema says: ids are positive integers, and a parameter given with
no value (`?updated_since=`) is a 400 rather than silently ignored."""

import datetime

import django_filters
from django import forms
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field

from api.schema import NO_NUL_PATTERN
from patients.models import Patient
from screening.models import Visit

# The largest id a bigint column holds (larger ones are a 400, as the schema's maximum says).
MAX_ID = 2**63 - 1


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """A record id: a whole number from 1 (django-filter's NumberFilter takes decimals)."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "string", "minLength": 1, "pattern": NO_NUL_PATTERN})
class TextFilter(django_filters.CharFilter):
    """Text that must be given when the parameter is (see StrictFilterSet)."""


class StrictFilterSet(django_filters.FilterSet):
    """Refuses a filter given without a value instead of ignoring it."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name in self.filters:
            if name in self.data and not self.data.get(name, "").strip():
                self.form.add_error(name, "Give a value, or leave the parameter out.")
                valid = False
        return valid


class PatientFilter(StrictFilterSet):
    site = IdFilter(field_name="site_id", help_text="Site id.")
    mrn = TextFilter(help_text="Exact medical record number.")
    born = django_filters.DateFilter(field_name="date_of_birth", help_text="Date of birth.")

    class Meta:
        model = Patient
        fields = ["site", "mrn", "born", "diabetes_type", "sex"]


class VisitFilter(StrictFilterSet):
    patient = IdFilter(field_name="patient_id", help_text="Patient id.")
    site = IdFilter(field_name="site_id", help_text="Site id.")
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

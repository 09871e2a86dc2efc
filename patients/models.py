"""The patient registry: one row per person per site, identified by the site's record number."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Site

EARLIEST_DIAGNOSIS_YEAR = 1900


def full_name(given_name: str, family_name: str) -> str:
    """Natural order, for addressing the patient (the letter): "Given Family"."""
    return f"{given_name} {family_name}"


def listing_name(given_name: str, family_name: str) -> str:
    """How lists, headings and reports name a patient: "FAMILY, Given"."""
    return f"{family_name.upper()}, {given_name}"


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Not recorded"

    class DiabetesType(models.TextChoices):
        TYPE_1 = "type1", "Type 1"
        TYPE_2 = "type2", "Type 2"
        GESTATIONAL = "gestational", "Gestational"
        OTHER = "other", "Other / secondary"
        UNKNOWN = "unknown", "Unknown"

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField(
        "medical record number",
        max_length=64,
        help_text="The clinic's identifier for this patient; unique within the site.",
    )
    given_name = models.CharField("given name", max_length=100)
    family_name = models.CharField("family name", max_length=100)
    date_of_birth = models.DateField("date of birth")
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    diabetes_type = models.CharField(
        "diabetes type", max_length=16, choices=DiabetesType.choices, default=DiabetesType.UNKNOWN
    )
    diagnosis_year = models.PositiveSmallIntegerField(
        "year of diabetes diagnosis",
        null=True,
        blank=True,
        help_text="Year diabetes was diagnosed; not before the year of birth nor in the future.",
    )
    phone = models.CharField("phone", max_length=40, blank=True)
    email = models.EmailField("email", blank=True)
    address = models.TextField("address", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name", "pk"]
        constraints = [
            models.UniqueConstraint(  # "n-1001" and "N-1001" are the same record number
                "site",
                Lower("mrn"),
                name="patient_mrn_unique_per_site",
                violation_error_message="A patient with this medical record number already exists "
                "at this site.",
                violation_error_code="duplicate_mrn",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "family_name", "given_name"]),
        ]

    def __str__(self) -> str:
        return f"{self.listing_name} ({self.mrn})"

    @property
    def full_name(self) -> str:
        return full_name(self.given_name, self.family_name)

    @property
    def listing_name(self) -> str:
        return listing_name(self.given_name, self.family_name)

    def age_on(self, day: datetime.date) -> int:
        dob = self.date_of_birth
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))

    def clean(self) -> None:
        today = timezone.localdate()
        errors: dict[str, str] = {}
        if self.date_of_birth and self.date_of_birth > today:
            errors["date_of_birth"] = "The date of birth is in the future."
        elif self.date_of_birth and self.date_of_birth.year < EARLIEST_DIAGNOSIS_YEAR:
            errors["date_of_birth"] = f"The date of birth is before {EARLIEST_DIAGNOSIS_YEAR}."
        if self.diagnosis_year is not None:
            if self.diagnosis_year > today.year:
                errors["diagnosis_year"] = "The year of diagnosis is in the future."
            elif self.date_of_birth and self.diagnosis_year < self.date_of_birth.year:
                errors["diagnosis_year"] = "The year of diagnosis is before the year of birth."
        if errors:
            raise ValidationError(errors)

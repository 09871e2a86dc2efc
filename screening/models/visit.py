"""A screening visit: one encounter at which a nurse photographs a patient's eyes."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from accounts.models import Site
from patients.models import Patient
from screening.models.fields import GradeField
from screening.rules import EyeGrade, parse_grade

# Snellen (6/9, 20/40), decimal or logMAR (0.3, -0.1), or the low-vision notations.
visual_acuity_validator = RegexValidator(
    r"^(\d{1,2}/\d{1,3}|-?\d(\.\d{1,2})?|CF|HM|PL|NPL)$",
    "Enter visual acuity as Snellen (6/9 or 20/40), decimal or logMAR (0.3), or CF, HM, PL, NPL.",
)


class Visit(models.Model):
    class Status(models.TextChoices):
        CAPTURING = "capturing", "Capturing images"
        GRADING = "grading", "AI grading in progress"
        AWAITING_REVIEW = "awaiting_review", "Awaiting review"
        IN_REVIEW = "in_review", "In review"
        SIGNED = "signed", "Report signed"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="visits")
    visit_date = models.DateField("date of the screening visit", default=timezone.localdate)
    captured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="captured_visits",
        verbose_name="nurse who captured the images",
    )
    dilated = models.BooleanField(
        "were the pupils dilated?", default=False, help_text="Mydriasis before photography."
    )
    visual_acuity_left = models.CharField(
        "visual acuity, left eye",
        max_length=8,
        blank=True,
        validators=[visual_acuity_validator],
        help_text="Best corrected or pinhole, as measured.",
    )
    visual_acuity_right = models.CharField(
        "visual acuity, right eye",
        max_length=8,
        blank=True,
        validators=[visual_acuity_validator],
        help_text="Best corrected or pinhole, as measured.",
    )
    camera = models.CharField("camera used", max_length=100, blank=True)
    notes = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.CAPTURING, db_index=True
    )
    # The AI's roll-up of its per-image results (decision support; the doctor's review decides).
    ai_grade_right = GradeField(
        "AI grade, right eye", max_length=1, blank=True, help_text="0-4, or U when ungradable."
    )
    ai_grade_left = GradeField(
        "AI grade, left eye", max_length=1, blank=True, help_text="0-4, or U when ungradable."
    )
    ai_overall_grade = GradeField(
        "AI overall grade", max_length=1, blank=True, help_text="The worse eye; U when either is."
    )
    ai_referable = models.BooleanField("AI: referable DR?", null=True, blank=True)
    ai_outcome = models.ForeignKey(
        "screening.OutcomeRule",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="AI recommended outcome",
    )
    ai_rolled_up_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-visit_date", "-pk"]
        indexes = [models.Index(fields=["site", "status", "visit_date"])]

    def __str__(self) -> str:
        return f"Visit {self.pk} of {self.patient} on {self.visit_date}"

    def ai_grade(self, eye: str) -> EyeGrade | None:
        """The AI's grade of one eye ('right' or 'left'); None before the roll-up."""
        codes = {"right": self.ai_grade_right, "left": self.ai_grade_left}
        return parse_grade(codes[eye])

    @property
    def ai_overall(self) -> EyeGrade | None:
        """The AI's overall grade (the worse eye); None before the roll-up."""
        return parse_grade(self.ai_overall_grade)

    @property
    def is_locked(self) -> bool:
        """A signed visit takes no new images or changes; corrections are addenda."""
        return self.status == self.Status.SIGNED

    @property
    def accepts_images(self) -> bool:
        """Photographs are added before a doctor starts reading: a reading covers a fixed set."""
        return self.status not in (self.Status.IN_REVIEW, self.Status.SIGNED)

    def clean(self) -> None:
        if self.patient_id and self.site_id and self.patient.site_id != self.site_id:
            raise ValidationError({"site": "The visit must be at the patient's site."})
        if self.visit_date and self.visit_date > timezone.localdate():
            raise ValidationError({"visit_date": "The visit date is in the future."})
        if self.visit_date and self.patient_id and self.visit_date < self.patient.date_of_birth:
            raise ValidationError({"visit_date": "The visit date is before the date of birth."})

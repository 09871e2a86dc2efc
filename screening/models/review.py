"""The doctors' review of a visit: one Review per reader round (primary, blind second reading,
arbitration), one EyeReading per eye and round, the SignOff that locks the report, and Addenda.

Signed records are append-only. Once a visit has a SignOff, its reviews and eye readings refuse
every change: `save()` and `delete()` on the model, `update()` and `delete()` on the queryset, and
(on PostgreSQL) a database trigger (migration 0005). SignOff and Addendum rows are never changed.
"""

from typing import Any, TypeVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from screening.models.fields import GradeField
from screening.models.grading import OutcomeRule
from screening.models.image import Eye
from screening.models.visit import Visit
from screening.rules import UNGRADABLE, EyeGrade, Grade, grade_code, parse_grade


class SignedRecordLocked(Exception):
    """Raised on any attempt to change a signed review, its readings, a sign-off or an addendum."""

    def __init__(self, what: str = "This report is signed") -> None:
        super().__init__(f"{what}: it can no longer be changed. Add an addendum instead.")


# The stored codes of screening.rules.Grade: "0" to "4", labelled "2 · Moderate NPDR".
GRADE_CHOICES = [(grade.code, f"{grade.code} · {grade.label}") for grade in Grade]


class Dme(models.TextChoices):
    ABSENT = "absent", "Absent"
    PRESENT = "present", "Present"
    NOT_ASSESSABLE = "not_assessable", "Not assessable"


_M = TypeVar("_M", bound=models.Model)


class LockedWhenSignedQuerySet(models.QuerySet[_M]):
    """Refuses bulk writes touching any row of a signed visit (`signed_lookup` names the path)."""

    signed_lookup = ""

    def _touches_signed(self) -> bool:
        return self.filter(**{self.signed_lookup: False}).exists()

    def update(self, **kwargs: Any) -> int:
        if self._touches_signed():
            raise SignedRecordLocked
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        if self._touches_signed():
            raise SignedRecordLocked
        return super().delete()

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        if self.filter(pk__in=[o.pk for o in objs])._touches_signed():
            raise SignedRecordLocked
        return super().bulk_update(objs, fields, batch_size=batch_size)


class ReviewQuerySet(LockedWhenSignedQuerySet["Review"]):
    signed_lookup = "visit__sign_off__isnull"


class EyeReadingQuerySet(LockedWhenSignedQuerySet["EyeReading"]):
    signed_lookup = "review__visit__sign_off__isnull"


class AppendOnlyQuerySet(models.QuerySet):
    """For rows that are never changed once written (sign-offs, addenda)."""

    def update(self, **kwargs: Any) -> int:
        raise SignedRecordLocked("Signed records")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise SignedRecordLocked("Signed records")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise SignedRecordLocked("Signed records")


class Review(models.Model):
    """One doctor's reading of a visit in one round."""

    class Round(models.TextChoices):
        PRIMARY = "primary", "Primary grading"
        SECOND = "second", "Second (blind) grading"
        ARBITRATION = "arbitration", "Arbitration"

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="reviews")
    round = models.CharField(max_length=12, choices=Round.choices, default=Round.PRIMARY)
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="doctor who read the images",
    )
    started_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty while the reading is a draft."
    )
    overall_grade = GradeField(
        "overall grade (worse eye)",
        max_length=1,
        blank=True,
        help_text="0-4, or U when an eye is ungradable and the other is not referable.",
    )
    referable = models.BooleanField(
        "is this referable DR (grade 2 or worse, or macular oedema)?", null=True, blank=True
    )
    recommended_outcome = models.ForeignKey(
        OutcomeRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="outcome the grades lead to",
        help_text="Derived from the per-eye grades and DME through the outcome table.",
    )
    outcome = models.ForeignKey(
        OutcomeRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="what outcome do you recommend?",
        help_text="The recommended outcome unless the doctor changes it, with a reason.",
    )
    outcome_reason = models.TextField(
        "why does the outcome differ from the recommendation?", blank=True
    )
    comment = models.TextField("comment on the visit", blank=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["visit", "started_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["visit", "round"], name="one_review_per_visit_round")
        ]

    def __str__(self) -> str:
        return f"{self.get_round_display()} of visit {self.visit_id} by {self.reader}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if SignOff.objects.filter(visit_id=self.visit_id).exists():
            raise SignedRecordLocked
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if SignOff.objects.filter(visit_id=self.visit_id).exists():
            raise SignedRecordLocked
        return super().delete(*args, **kwargs)

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None


class EyeReading(models.Model):
    """A doctor's grading of one eye in one review round."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="eye_readings")
    eye = models.CharField("which eye?", max_length=8, choices=Eye.choices)
    gradable = models.BooleanField(
        "can this eye be graded?",
        default=True,
        help_text="An eye that cannot be graded is U; it is never graded 0.",
    )
    ungradable_reason = models.CharField(
        "why can this eye not be graded?",
        max_length=200,
        blank=True,
        help_text="E.g. media opacity, small pupil, out of focus, no image of this eye.",
    )
    grade = models.CharField(
        "what ICDR grade does this eye show?",
        max_length=1,
        choices=GRADE_CHOICES,
        blank=True,
        help_text="International Clinical DR scale, 0-4. Empty when the eye is ungradable.",
    )
    dme = models.CharField(
        "is diabetic macular oedema present?",
        max_length=16,
        choices=Dme.choices,
        default=Dme.ABSENT,
        help_text="Recorded separately from the DR grade; present makes the eye referable.",
    )
    ai_grade = models.CharField(
        "AI grade of this eye when read",
        max_length=1,
        blank=True,
        help_text="0-4 or U: the AI's eye grade the doctor saw (for agreement statistics).",
    )
    comment = models.TextField("comment on this eye", blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = EyeReadingQuerySet.as_manager()

    class Meta:
        ordering = ["review", "-eye"]  # right eye first
        constraints = [
            models.UniqueConstraint(fields=["review", "eye"], name="one_reading_per_eye_and_round"),
            models.CheckConstraint(
                condition=(models.Q(gradable=True) & ~models.Q(grade=""))
                | (models.Q(gradable=False) & models.Q(grade="")),
                name="gradable_eye_has_a_grade_ungradable_none",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_eye_display()}: {self.code}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._signed():
            raise SignedRecordLocked
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self._signed():
            raise SignedRecordLocked
        return super().delete(*args, **kwargs)

    @property
    def eye_grade(self) -> EyeGrade:
        """The doctor's grade of the eye; UNGRADABLE when it cannot be graded."""
        grade = parse_grade(self.grade) if self.gradable else UNGRADABLE
        return UNGRADABLE if grade is None else grade

    @property
    def code(self) -> str:
        """The grade as 0-4, or U when ungradable (for templates and exports)."""
        return grade_code(self.eye_grade)

    @property
    def agrees_with_ai(self) -> bool:
        return parse_grade(self.ai_grade) == self.eye_grade

    def _signed(self) -> bool:
        return SignOff.objects.filter(visit__reviews=self.review_id).exists()


class SignOff(models.Model):
    """The signature that locks a visit's report: which review it signs, who signed, when."""

    visit = models.OneToOneField(Visit, on_delete=models.PROTECT, related_name="sign_off")
    review = models.ForeignKey(
        Review,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="reading the report states",
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="doctor who signed",
    )
    signed_at = models.DateTimeField(default=timezone.now)
    ai_jobs = models.JSONField(
        "AI results shown at signing",
        default=list,
        help_text="Primary keys of the grading jobs the report's AI part shows.",
    )
    patient_as_signed = models.JSONField(
        "patient details at signing",
        default=dict,
        help_text="Name, MRN, date of birth (ISO) and sex (its code, not its label) as the report "
        "stated them when it was signed.",
    )

    objects = AppendOnlyQuerySet.as_manager()

    def __str__(self) -> str:
        when = f"{self.signed_at:%Y-%m-%d %H:%M}"
        return f"Visit {self.visit_id} signed by {self.signed_by} at {when}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise SignedRecordLocked("A sign-off")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise SignedRecordLocked("A sign-off")


class Addendum(models.Model):
    """A correction or addition to a signed report; never changed once written."""

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="doctor who wrote the addendum",
    )
    created_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(
        "why is this addendum needed?",
        max_length=200,
        help_text="E.g. a correction of a grade, information that arrived after signing.",
    )
    text = models.TextField(
        "what does the addendum say?", help_text="Shown on the report under the signed result."
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["visit", "created_at", "pk"]
        verbose_name_plural = "addenda"

    def __str__(self) -> str:
        return f"Addendum to visit {self.visit_id} by {self.author} ({self.created_at:%Y-%m-%d})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise SignedRecordLocked("An addendum")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise SignedRecordLocked("An addendum")

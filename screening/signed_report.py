"""The signed report as one typed, immutable object.

`signed_report(visit)` reads a signed visit once and returns a `SignedReport`; every renderer
(the HTML report and letter, the PDF report and letter, the API's JSON report and the FHIR
Bundle) reads that object and nothing else, so they cannot disagree. Contents follow CLINICAL.md
("What a signed report contains").

The patient is stated as frozen at signing (`SignOff.patient_as_signed`), with codes, not display
labels: the sex is the registry's code and its label is derived when a page is rendered.
"""

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models.fields.files import FieldFile

from patients.models import Patient, full_name, listing_name
from screening.models import Dme, Eye, OutcomeRule, Review, Visit
from screening.rules import (
    AiEyeResult,
    AiImageResult,
    ai_eye_result,
    ai_image_result,
    grade_code,
    grade_label,
)
from screening.selectors import ImageRow, addenda_for_visit, signed_ai_rows
from screening.services.grading import referable_threshold_of
from screening.services.review import patient_details

AI_STATEMENT = (
    "The AI result is decision support only, produced by an automated grader for a qualified "
    "doctor. The grades, DME and outcome in this report are the doctors' decisions."
)

# How the report names each field of the frozen patient when the registry has changed it since.
PATIENT_FIELD_LABELS = {
    "mrn": "MRN",
    "given_name": "given name",
    "family_name": "family name",
    "date_of_birth": "date of birth",
    "sex": "sex",
}


def grade_name(code: str) -> str:
    """ "Mild NPDR" for "1", "Ungradable" for "U"; empty for no grade."""
    return grade_label(code) if code else ""


@dataclass(frozen=True)
class PatientSnapshot:
    """The patient as the signed report states them."""

    registry_id: int
    mrn: str
    given_name: str
    family_name: str
    date_of_birth: datetime.date
    sex: str  # a Patient.Sex code

    @property
    def full_name(self) -> str:
        return full_name(self.given_name, self.family_name)

    @property
    def listing_name(self) -> str:
        return listing_name(self.given_name, self.family_name)

    @property
    def sex_label(self) -> str:
        return Patient.Sex(self.sex).label


@dataclass(frozen=True)
class Person:
    """A doctor named on the report (reader, signer, addendum author)."""

    username: str
    given_name: str
    family_name: str
    professional_id: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip() or self.username

    @classmethod
    def of(cls, user: Any) -> "Person":
        return cls(
            username=user.username,
            given_name=user.first_name,
            family_name=user.last_name,
            professional_id=user.professional_id,
        )


@dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    referral: bool
    recall_months: int | None
    refer_within_weeks: int | None

    @classmethod
    def of(cls, rule: OutcomeRule | None) -> "Outcome | None":
        if rule is None:
            return None
        return cls(
            key=rule.key,
            label=rule.label,
            referral=rule.referral,
            recall_months=rule.recall_months,
            refer_within_weeks=rule.refer_within_weeks,
        )


@dataclass(frozen=True)
class ImageResult:
    """One photograph with the AI result the report was signed with."""

    image_id: uuid.UUID
    job_id: int | None  # the grading the report was signed with (its heatmap, not a later one)
    field_label: str
    width: int
    height: int
    thumbnail: FieldFile | None
    ai_result: str  # "none" (no finished result), "ungradable" or "gradable"
    quality_detail: str
    predicted_grade: int | None
    probabilities: tuple[tuple[int, float], ...]
    model_version: str
    heatmap: FieldFile | None
    heatmap_registered: bool = False  # a layer on the photograph's frame (else a square blend)
    referable: bool | None = None  # the AI's screening decision ...
    referable_probability: float | None = None  # ... P(grade >= 2) ...
    referable_threshold: float | None = None  # ... against the model card's threshold

    @property
    def ai(self) -> AiImageResult | None:
        """The screening decision apart from the grade the model ranks first (screening.rules)."""
        if self.ai_result != "gradable":
            return None
        return ai_image_result(
            probabilities=[p for _, p in self.probabilities],
            referable_probability=self.referable_probability,
            referable=self.referable,
            threshold=self.referable_threshold,
        )

    @classmethod
    def of(cls, row: ImageRow) -> "ImageResult":
        image, job = row.image, row.job
        finished = job is not None and job.status == "succeeded"
        if job is None or not finished:
            ai_result = "none"
        else:
            ai_result = "gradable" if job.gradable else "ungradable"
        return cls(
            image_id=image.pk,
            job_id=job.pk if job else None,
            field_label=image.get_field_display(),
            width=image.width,
            height=image.height,
            thumbnail=image.thumbnail or None,
            ai_result=ai_result,
            quality_detail=(job.quality_detail or job.quality_reason) if job else "",
            predicted_grade=job.predicted_grade if job else None,
            probabilities=tuple(job.probability_rows) if job else (),
            model_version=job.model_version if job else "",
            heatmap=(job.heatmap or None) if job else None,
            heatmap_registered=job.heatmap_registered if job else False,
            referable=job.referable if job else None,
            referable_probability=job.referable_probability if job else None,
            referable_threshold=referable_threshold_of(job) if job else None,
        )


@dataclass(frozen=True)
class EyeFinding:
    """The signed reading of one eye, with its photographs and the AI's grade of the eye."""

    eye: str  # an Eye code: "right" or "left"
    label: str
    read: bool  # False only when the signed reading has no record of this eye
    grade: str  # ICDR "0"-"4", "U" when ungradable; "" when not read
    gradable: bool
    ungradable_reason: str
    dme: str  # a Dme code; "" when not read
    comment: str
    ai_grade: str  # "0"-"4", "U", or "" when the AI has no grade
    images: tuple[ImageResult, ...]

    @property
    def grade_name(self) -> str:
        return grade_name(self.grade)

    @property
    def dme_label(self) -> str:
        return Dme(self.dme).label if self.dme else ""

    @property
    def ai_grade_name(self) -> str:
        return grade_name(self.ai_grade)

    @property
    def ai(self) -> AiEyeResult:
        """The AI's screening decision and most likely grade of the eye (screening.rules)."""
        return ai_eye_result(result for image in self.images if (result := image.ai) is not None)


@dataclass(frozen=True)
class Reading:
    """One doctor's submitted reading (primary, second, arbitration)."""

    round: str
    round_label: str
    reader: Person
    submitted_at: datetime.datetime | None
    overall_grade: str


@dataclass(frozen=True)
class AddendumEntry:
    author: Person
    created_at: datetime.datetime
    reason: str
    text: str


@dataclass(frozen=True)
class SignedReport:
    """Everything a signed report states; what every renderer reads."""

    visit_id: int
    site_name: str
    site_code: str
    visit_date: datetime.date
    visit_started_at: datetime.datetime
    camera: str
    dilated: bool
    visual_acuity_right: str
    visual_acuity_left: str
    patient: PatientSnapshot
    registry_changed: tuple[str, ...]  # labels of patient details the registry changed since
    eyes: tuple[EyeFinding, ...]  # right eye first
    overall_grade: str
    referable: bool | None
    outcome: Outcome | None
    recommended_outcome: Outcome | None
    outcome_reason: str
    comment: str
    readings: tuple[Reading, ...]
    signed_by: Person
    signed_at: datetime.datetime
    model_versions: tuple[str, ...]
    addenda: tuple[AddendumEntry, ...]
    ai_statement: str = AI_STATEMENT

    @property
    def amended(self) -> bool:
        return bool(self.addenda)

    @property
    def status(self) -> str:
        """The report's status as FHIR and the API name it: final, or amended once an addendum
        exists."""
        return "amended" if self.amended else "final"

    @property
    def overall_grade_name(self) -> str:
        return grade_name(self.overall_grade)


def signed_report(visit: Visit) -> SignedReport:
    """The signed report of a signed visit (as `get_signed_visit_for_user` loads it)."""
    sign_off = visit.sign_off
    reviews = sorted(
        (r for r in visit.reviews.all() if r.is_submitted),
        key=lambda r: list(Review.Round.values).index(r.round),
    )
    final = next((r for r in reviews if r.pk == sign_off.review_id), sign_off.review)
    readings = {r.eye: r for r in final.eye_readings.all()}
    rows = dict(signed_ai_rows(visit))
    eyes = tuple(
        _eye_finding(visit, eye, label, readings.get(eye), rows.get(label, []))
        for eye, label in Eye.choices
    )
    patient, registry_changed = _patient_as_signed(visit)
    return SignedReport(
        visit_id=visit.pk,
        site_name=visit.site.name,
        site_code=visit.site.code,
        visit_date=visit.visit_date,
        visit_started_at=visit.created_at,
        camera=visit.camera,
        dilated=visit.dilated,
        visual_acuity_right=visit.visual_acuity_right,
        visual_acuity_left=visit.visual_acuity_left,
        patient=patient,
        registry_changed=registry_changed,
        eyes=eyes,
        overall_grade=grade_code(final.overall_grade),
        referable=final.referable,
        outcome=Outcome.of(final.outcome),
        recommended_outcome=Outcome.of(final.recommended_outcome),
        outcome_reason=final.outcome_reason,
        comment=final.comment,
        readings=tuple(
            Reading(
                round=r.round,
                round_label=r.get_round_display(),
                reader=Person.of(r.reader),
                submitted_at=r.submitted_at,
                overall_grade=grade_code(r.overall_grade),
            )
            for r in reviews
        ),
        signed_by=Person.of(sign_off.signed_by),
        signed_at=sign_off.signed_at,
        model_versions=tuple(
            sorted({image.model_version for eye in eyes for image in eye.images} - {""})
        ),
        addenda=tuple(
            AddendumEntry(
                author=Person.of(a.author), created_at=a.created_at, reason=a.reason, text=a.text
            )
            for a in addenda_for_visit(visit)
        ),
    )


def _eye_finding(
    visit: Visit, eye: str, label: str, reading: Any, rows: list[ImageRow]
) -> EyeFinding:
    return EyeFinding(
        eye=eye,
        label=label,
        read=reading is not None,
        grade=reading.code if reading else "",
        gradable=reading.gradable if reading else False,
        ungradable_reason=reading.ungradable_reason if reading else "",
        dme=reading.dme if reading else "",
        comment=reading.comment if reading else "",
        ai_grade=grade_code(visit.ai_grade(eye)),
        images=tuple(ImageResult.of(row) for row in rows),
    )


def _patient_as_signed(visit: Visit) -> tuple[PatientSnapshot, tuple[str, ...]]:
    """(the patient as signed, the details the registry has changed since)."""
    now = patient_details(visit.patient)
    frozen = visit.sign_off.patient_as_signed or now  # signed before details were frozen
    changed = tuple(PATIENT_FIELD_LABELS[key] for key in now if frozen.get(key) != now[key])
    sex = frozen["sex"] if frozen["sex"] in Patient.Sex.values else Patient.Sex.UNKNOWN
    patient = PatientSnapshot(
        registry_id=visit.patient_id,
        mrn=frozen["mrn"],
        given_name=frozen["given_name"],
        family_name=frozen["family_name"],
        date_of_birth=datetime.date.fromisoformat(frozen["date_of_birth"]),
        sex=sex,
    )
    return patient, changed

"""The signed report and the patient letter, as HTML context and as PDF (reportlab).

Both are built from one `report_context()` of a signed visit, so the HTML page, the PDF and the
letter always say the same thing. Contents follow CLINICAL.md ("What a signed report contains").
"""

import datetime
import io
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from screening.models import EyeReading, Review, Visit
from screening.selectors import ImageRow, addenda_for_visit, signed_ai_rows
from screening.templatetags.screening_tags import ICDR_NAMES

AI_STATEMENT = (
    "The AI grade is decision support only, produced by an automated grader for a qualified "
    "doctor. The grades, DME and outcome in this report are the doctors' decisions."
)


@dataclass(frozen=True)
class EyeSection:
    eye: str
    label: str
    reading: EyeReading | None
    ai_grade: str
    rows: list[ImageRow]


@dataclass(frozen=True)
class PatientAsSigned:
    """The patient as the signed report states them (SignOff.patient_as_signed)."""

    mrn: str
    given_name: str
    family_name: str
    date_of_birth: datetime.date
    sex: str

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def listing_name(self) -> str:
        """How lists, headings and reports name the patient: "FAMILY, Given"."""
        return f"{self.family_name.upper()}, {self.given_name}"


def patient_as_signed(visit: Visit) -> tuple[Any, list[str]]:
    """(the patient as signed, the details the registry has changed since), for the report."""
    from screening.services.review import patient_details

    frozen = visit.sign_off.patient_as_signed
    if not frozen:  # signed before the details were frozen: the registry is all there is
        return visit.patient, []
    now = patient_details(visit.patient)
    changed = [LABELS.get(key, key) for key in frozen if frozen[key] != now.get(key)]
    patient = PatientAsSigned(
        **{**frozen, "date_of_birth": datetime.date.fromisoformat(frozen["date_of_birth"])}
    )
    return patient, changed


LABELS = {"mrn": "MRN", "given_name": "given name", "family_name": "family name"}
LABELS |= {"date_of_birth": "date of birth", "sex": "sex"}


def report_context(visit: Visit) -> dict[str, Any]:
    """Everything the report and the letter show, of a signed visit (get_signed_visit_for_user)."""
    sign_off = visit.sign_off
    final = sign_off.review
    reviews: list[Review] = sorted(
        (r for r in visit.reviews.all() if r.is_submitted),
        key=lambda r: list(Review.Round.values).index(r.round),
    )
    final = next((r for r in reviews if r.pk == final.pk), final)
    readings = {r.eye: r for r in final.eye_readings.all()}
    ai_rows = dict(signed_ai_rows(visit))
    eyes = [
        EyeSection(
            eye=eye,
            label=label,
            reading=readings.get(eye),
            ai_grade=visit.ai_grade_right if eye == "right" else visit.ai_grade_left,
            rows=ai_rows.get(label, []),
        )
        for eye, label in (("right", "Right eye (OD)"), ("left", "Left eye (OS)"))
    ]
    models = sorted({row.job.model_version for e in eyes for row in e.rows if row.job})
    patient, registry_changed = patient_as_signed(visit)
    return {
        "visit": visit,
        "patient": patient,
        "registry_changed": registry_changed,
        "sign_off": sign_off,
        "final": final,
        "reviews": reviews,
        "eyes": eyes,
        "addenda": list(addenda_for_visit(visit)),
        "model_versions": models,
        "ai_statement": AI_STATEMENT,
        "amended": visit.addenda.exists(),
    }


def visual_acuity(visit: Visit) -> str:
    """Right eye first, as everywhere in DR Portal."""
    right, left = visit.visual_acuity_right or "—", visit.visual_acuity_left or "—"
    return f"Right {right} · Left {left}"


def grade_text(code: str) -> str:
    return f"{code} · {ICDR_NAMES.get(code, '')}" if code else "—"


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "—"


def _person(user: Any) -> str:
    return user.get_full_name() or user.username


class _Styles:
    def __init__(self) -> None:
        base = getSampleStyleSheet()
        self.title, self.h2, self.body = base["Title"], base["Heading2"], base["BodyText"]
        self.small = ParagraphStyle("small", parent=base["BodyText"], fontSize=8, leading=10)


_CELL = ParagraphStyle("cell", fontName="Helvetica", fontSize=9, leading=11)


def _table(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
    """A grid; text cells become paragraphs so long text wraps."""
    cells = [[Paragraph(escape(c), _CELL) if isinstance(c, str) else c for c in r] for r in rows]
    table = Table(cells, colWidths=widths, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
            ]
        )
    )
    return table


def _picture(stored: Any, size: float = 32 * mm) -> Flowable | str:
    """A stored photograph or heatmap as a small image; a dash when it cannot be read."""
    if not stored:
        return "—"
    try:
        with stored.open("rb") as handle:
            data = io.BytesIO(handle.read())
    except OSError:
        return "—"
    return Image(data, width=size, height=size, kind="proportional")


def report_pdf(context: dict[str, Any]) -> bytes:
    """The signed report as a PDF document."""
    s = _Styles()
    visit, patient, sign_off = context["visit"], context["patient"], context["sign_off"]
    final: Review = context["final"]
    story: list[Flowable] = [
        Paragraph("Diabetic retinopathy screening report", s.title),
        Paragraph("AMENDED (see addenda)" if context["amended"] else "Final", s.body),
        _table(
            [
                ["Patient", f"{patient.listing_name} (MRN {patient.mrn})"],
                ["Date of birth", f"{patient.date_of_birth:%Y-%m-%d}"],
                *(
                    [["Registry", f"As at signing; {', '.join(changed)} changed since."]]
                    if (changed := context["registry_changed"])
                    else []
                ),
                ["Visit date", f"{visit.visit_date:%Y-%m-%d}"],
                ["Site", str(visit.site)],
                ["Camera", visit.camera or "—"],
                ["Dilated", "Yes" if visit.dilated else "No"],
                ["Visual acuity", visual_acuity(visit)],
            ],
            [40 * mm, 130 * mm],
        ),
        Paragraph("Result", s.h2),
        _table(
            [
                ["Overall grade (worse eye)", grade_text(final.overall_grade)],
                ["Referable DR", {True: "Yes", False: "No", None: "Unknown"}[final.referable]],
                ["Outcome", final.outcome.label if final.outcome else "—"],
            ]
            + ([["Outcome changed because", final.outcome_reason]] if final.outcome_reason else []),
            [50 * mm, 120 * mm],
        ),
    ]
    for section in context["eyes"]:
        story += _eye_story(section, s)
    story += [
        Paragraph("AI decision support", s.h2),
        Paragraph(escape(AI_STATEMENT), s.body),
        Paragraph(f"Model version: {escape(', '.join(context['model_versions']) or '—')}", s.body),
        Paragraph("Readers and signature", s.h2),
        _table(
            [["Reading", "Doctor", "Submitted", "Overall"]]
            + [
                [r.get_round_display(), _person(r.reader), _when(r.submitted_at), r.overall_grade]
                for r in context["reviews"]
            ]
            + [["Signed", _person(sign_off.signed_by), _when(sign_off.signed_at), ""]]
        ),
    ]
    if final.comment:
        story.append(Paragraph(f"Comment: {escape(final.comment)}", s.body))
    if context["addenda"]:
        story.append(Paragraph("Addenda", s.h2))
        for addendum in context["addenda"]:
            story += [
                Paragraph(
                    f"<b>{_when(addendum.created_at)}, {escape(_person(addendum.author))}</b> — "
                    f"reason: {escape(addendum.reason)}",
                    s.body,
                ),
                Paragraph(escape(addendum.text), s.body),
            ]
    return _build(story, title=f"Screening report {visit.visit_date:%Y-%m-%d}")


def _eye_story(section: EyeSection, s: _Styles) -> list[Flowable]:
    reading = section.reading
    rows = [
        ["Doctor's grade", grade_text(reading.code) if reading else "—"],
        ["Gradable", ("Yes" if reading.gradable else "No") if reading else "—"],
        ["DME", reading.get_dme_display() if reading else "—"],
    ]
    if reading and not reading.gradable:
        rows.append(["Why ungradable", reading.ungradable_reason])
    if reading and reading.comment:
        rows.append(["Comment", reading.comment])
    rows.append(["AI grade (decision support)", grade_text(section.ai_grade)])
    story: list[Flowable] = [Paragraph(section.label, s.h2), _table(rows, [50 * mm, 120 * mm])]
    images = [["Photograph", "Heatmap", "Field, quality and AI result"]]
    for row in section.rows:
        images.append(
            [
                _picture(row.image.thumbnail),
                _picture(row.job.heatmap if row.job else None),
                Paragraph(_image_facts(row), s.small),
            ]
        )
    if len(images) > 1:
        story += [Spacer(1, 2 * mm), _table(images, [36 * mm, 36 * mm, 98 * mm])]
    return story


def _image_facts(row: ImageRow) -> str:
    job, image = row.job, row.image
    facts = [f"{image.get_field_display()}, {image.width}×{image.height} px"]
    if job is None or job.status != "succeeded":
        facts.append("AI: no result")
    elif not job.gradable:
        facts.append(f"Quality: ungradable ({escape(job.quality_detail or job.quality_reason)})")
    else:
        probs = ", ".join(f"{g}: {100 * p:.0f}%" for g, p in job.probability_rows)
        facts += [
            "Quality: gradable",
            f"AI grade {job.predicted_grade}; probabilities {probs}",
            f"Model {escape(job.model_version)}",
        ]
    return "<br/>".join(facts)


def letter_text(context: dict[str, Any]) -> dict[str, str]:
    """The patient letter in plain language, from the same data as the report."""
    final: Review = context["final"]
    outcome = final.outcome
    if final.overall_grade == "U" and not final.referable:
        finding = (
            "We could not see the back of one or both of your eyes clearly enough on the "
            "photographs. This is common and is not a diagnosis."
        )
    elif final.referable:
        finding = (
            "The photographs show changes in the back of your eye caused by diabetes that an eye "
            "specialist should look at."
        )
    elif final.overall_grade == "1":
        finding = (
            "The photographs show small, early changes caused by diabetes. They do not need "
            "treatment now, but we will keep checking."
        )
    else:
        finding = "The photographs show no signs of diabetic eye disease."
    if outcome is None:
        next_step = "Your clinic will contact you about what happens next."
    elif outcome.referral and outcome.refer_within_weeks:
        next_step = (
            f"We are referring you to an eye specialist. You should be seen within about "
            f"{outcome.refer_within_weeks} weeks. If you do not hear from them, please contact "
            "your clinic."
        )
    elif outcome.referral:
        next_step = (
            "We would like to take new photographs or arrange an eye examination. Your clinic "
            "will contact you."
        )
    else:
        months = outcome.recall_months or 12
        next_step = f"Please come back for your next eye screening in {months} months."
    return {
        "finding": finding,
        "next_step": next_step,
        "advice": (
            "Keeping your blood sugar, blood pressure and cholesterol under control helps protect "
            "your eyes. If your sight changes suddenly, contact your doctor or an eye casualty "
            "department straight away; do not wait for your next screening."
        ),
    }


def letter_pdf(context: dict[str, Any]) -> bytes:
    """The patient letter as a PDF document."""
    s = _Styles()
    visit, patient, text = context["visit"], context["patient"], letter_text(context)
    signer = context["sign_off"].signed_by
    story: list[Flowable] = [
        Paragraph(escape(str(visit.site)), s.body),
        Paragraph(f"{timezone.localtime(context['sign_off'].signed_at):%d %B %Y}", s.body),
        Spacer(1, 6 * mm),
        Paragraph(f"Dear {escape(patient.full_name)},", s.body),
        Paragraph(
            f"Thank you for coming to your diabetic eye screening on {visit.visit_date:%d %B %Y}.",
            s.body,
        ),
        Paragraph(escape(text["finding"]), s.body),
        Paragraph(escape(text["next_step"]), s.body),
        Paragraph(escape(text["advice"]), s.body),
        Spacer(1, 6 * mm),
        Paragraph(f"Yours sincerely,<br/>{escape(_person(signer))}", s.body),
    ]
    if context["amended"]:
        story.append(
            Paragraph("This letter reflects your report including later corrections.", s.small)
        )
    return _build(story, title="Your eye screening result")


def _build(story: list[Flowable], *, title: str) -> bytes:
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out, pagesize=A4, title=title, author="DR Portal", leftMargin=18 * mm, rightMargin=18 * mm
    )
    document.build(story)
    return out.getvalue()

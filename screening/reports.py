"""The signed report and the patient letter as PDF (reportlab), and the letter's plain text.

Every function here reads one `SignedReport` (screening.signed_report), the object the HTML pages,
the API and the FHIR export read too, so they always say the same thing.
"""

import io
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone
from django.utils.formats import date_format
from PIL import Image as PILImage
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

from screening.signed_report import EyeFinding, ImageResult, SignedReport, grade_name


def visual_acuity(report: SignedReport) -> str:
    """Right eye first, as everywhere in DR Portal."""
    right, left = report.visual_acuity_right or "—", report.visual_acuity_left or "—"
    return f"Right {right} · Left {left}"


def grade_text(code: str) -> str:
    return f"{code} · {grade_name(code)}" if code else "—"


def _yes_no_unknown(value: bool | None) -> str:
    return "Unknown" if value is None else ("Yes" if value else "No")


def _when(value: Any) -> str:
    """A time as every page shows it (settings' DATETIME_FORMAT, local time zone)."""
    return date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else "—"


def _day(value: Any) -> str:
    """A date as every page shows it (settings' DATE_FORMAT)."""
    return date_format(value, "DATE_FORMAT")


class _Styles:
    def __init__(self) -> None:
        base = getSampleStyleSheet()
        self.title, self.h2, self.body = base["Title"], base["Heading2"], base["BodyText"]
        self.small = ParagraphStyle("small", parent=base["BodyText"], fontSize=8, leading=10)


_CELL = ParagraphStyle("cell", fontName="Helvetica", fontSize=9, leading=11)


def _table(
    rows: list[list[Any]], widths: list[float] | None = None, *, header: bool = False
) -> Table:
    """A grid; text cells become paragraphs so long text wraps. A `header` row repeats on each
    page the table runs onto (and is never left alone at the foot of a page)."""
    cells = [[Paragraph(escape(c), _CELL) if isinstance(c, str) else c for c in r] for r in rows]
    table = Table(cells, colWidths=widths, hAlign="LEFT", repeatRows=1 if header else 0)
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


def report_pdf(report: SignedReport) -> bytes:
    """The signed report as a PDF document."""
    s = _Styles()
    patient = report.patient
    story: list[Flowable] = [
        Paragraph("Diabetic retinopathy screening report", s.title),
        Paragraph("AMENDED (see addenda)" if report.amended else "Final", s.body),
        _table(
            [
                ["Patient", f"{patient.listing_name} (MRN {patient.mrn})"],
                ["Date of birth, sex", f"{_day(patient.date_of_birth)} · {patient.sex_label}"],
                *(
                    [["Registry", f"As at signing; {', '.join(changed)} changed since."]]
                    if (changed := report.registry_changed)
                    else []
                ),
                ["Visit date", _day(report.visit_date)],
                ["Site", report.site_name],
                ["Camera", report.camera or "—"],
                ["Dilated", "Yes" if report.dilated else "No"],
                ["Visual acuity", visual_acuity(report)],
            ],
            [40 * mm, 130 * mm],
        ),
        Paragraph("Result", s.h2),
        _table(
            [
                ["Overall grade (worse eye)", grade_text(report.overall_grade)],
                ["Referable DR", _yes_no_unknown(report.referable)],
                ["Outcome", report.outcome.label if report.outcome else "—"],
            ]
            + (
                [["Outcome changed because", report.outcome_reason]]
                if report.outcome_reason
                else []
            ),
            [50 * mm, 120 * mm],
        ),
    ]
    for eye in report.eyes:
        story += _eye_story(eye, s)
    story += [
        Paragraph("AI decision support", s.h2),
        Paragraph(escape(report.ai_statement), s.body),
        Paragraph(f"Model version: {escape(', '.join(report.model_versions) or '—')}", s.body),
        Paragraph("Readers and signature", s.h2),
        _table(
            [["Reading", "Doctor", "Submitted", "Overall"]]
            + [
                [r.round_label, r.reader.name, _when(r.submitted_at), r.overall_grade]
                for r in report.readings
            ]
            + [["Signed", report.signed_by.name, _when(report.signed_at), ""]]
        ),
    ]
    if report.comment:
        story.append(Paragraph(f"Comment: {escape(report.comment)}", s.body))
    if report.addenda:
        story.append(Paragraph("Addenda", s.h2))
        for addendum in report.addenda:
            story += [
                Paragraph(
                    f"<b>{_when(addendum.created_at)}, {escape(addendum.author.name)}</b> — "
                    f"reason: {escape(addendum.reason)}",
                    s.body,
                ),
                Paragraph(escape(addendum.text), s.body),
            ]
    return _build(story, title=f"Screening report {report.visit_date:%Y-%m-%d}")


def _eye_story(eye: EyeFinding, s: _Styles) -> list[Flowable]:
    rows = [
        ["Doctor's grade", grade_text(eye.grade)],
        ["Gradable", ("Yes" if eye.gradable else "No") if eye.read else "—"],
        ["DME", eye.dme_label or "—"],
    ]
    if eye.read and not eye.gradable:
        rows.append(["Why ungradable", eye.ungradable_reason])
    if eye.comment:
        rows.append(["Comment", eye.comment])
    rows.append(["AI (decision support)", _ai_eye_text(eye)])
    story: list[Flowable] = [Paragraph(eye.label, s.h2), _table(rows, [50 * mm, 120 * mm])]
    images = [["Photograph", "Heatmap", "Field, quality and AI result"]]
    for image in eye.images:
        images.append(
            [
                _picture(image.thumbnail),
                _heatmap_picture(image),
                Paragraph(_image_facts(image), s.small),
            ]
        )
    if len(images) > 1:
        story += [Spacer(1, 2 * mm), _table(images, [36 * mm, 36 * mm, 98 * mm], header=True)]
    return story


def _threshold_text(threshold: float | None) -> str:
    return "" if threshold is None else f", threshold {100 * threshold:.0f}%"


def _ai_eye_text(eye: EyeFinding) -> str:
    """The AI's screening decision and most likely grade of the eye, never a grade it does not
    rank first (screening.rules.ai_eye_result)."""
    ai = eye.ai
    if ai.referable is None or ai.referable_probability is None:
        return "No gradable photograph"
    # With several photographs the figures may come from two of them: say so, as on screen.
    several = ai.photographs > 1
    p_label = (
        f"highest P(referable) of its {ai.photographs} photographs" if several else "P(referable)"
    )
    grade_label = "worst most likely grade of its photographs" if several else "most likely grade"
    text = (
        f"Refer: {'yes' if ai.referable else 'no'} · {p_label} "
        f"{100 * ai.referable_probability:.0f}%{_threshold_text(ai.threshold)} · {grade_label} "
        f"{grade_text(ai.likely_grade.code)} ({100 * (ai.likely_probability or 0):.0f}%)"
    )
    if ai.disagrees and ai.referable:
        text += " (flagged as possibly referable)"
    return text


def _heatmap_picture(image: ImageResult, size: float = 32 * mm) -> Flowable | str:
    """The heatmap laid over its photograph (a registered layer), or an older stand-alone one."""
    if not image.heatmap or not image.heatmap_registered or not image.thumbnail:
        return _picture(image.heatmap, size)
    try:
        with image.thumbnail.open("rb") as handle:
            photo = PILImage.open(io.BytesIO(handle.read())).convert("RGBA")
        with image.heatmap.open("rb") as handle:
            layer = PILImage.open(io.BytesIO(handle.read())).convert("RGBA")
    except OSError:
        return "—"
    combined = PILImage.alpha_composite(photo, layer.resize(photo.size)).convert("RGB")
    data = io.BytesIO()
    combined.save(data, "PNG")
    data.seek(0)
    return Image(data, width=size, height=size, kind="proportional")


def _image_facts(image: ImageResult) -> str:
    facts = [f"{image.field_label}, {image.width}×{image.height} px"]
    if image.ai_result == "none":
        facts.append("AI: no result")
    elif image.ai_result == "ungradable":
        facts.append(f"Quality: ungradable ({escape(image.quality_detail)})")
    else:
        probs = ", ".join(f"{g}: {100 * p:.0f}%" for g, p in image.probabilities)
        ai = image.ai
        decision = (
            f"AI refer: {'yes' if ai.referable else 'no'} (P(referable) "
            f"{100 * ai.referable_probability:.0f}%{_threshold_text(ai.threshold)}); most likely "
            f"grade {ai.likely_grade.code} ({100 * ai.likely_probability:.0f}%)"
            if ai
            else "AI: no result"
        )
        facts += [
            "Quality: gradable",
            f"{decision}; probabilities {probs}",
            f"Model {escape(image.model_version)}",
        ]
    return "<br/>".join(facts)


def letter_text(report: SignedReport) -> dict[str, str]:
    """The patient letter in plain language, from the same report."""
    outcome = report.outcome
    if report.overall_grade == "U" and not report.referable:
        finding = (
            "We could not see the back of one or both of your eyes clearly enough on the "
            "photographs. This is common and is not a diagnosis."
        )
    elif report.referable:
        finding = (
            "The photographs show changes in the back of your eye caused by diabetes that an eye "
            "specialist should look at."
        )
    elif report.overall_grade == "1":
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


def letter_pdf(report: SignedReport) -> bytes:
    """The patient letter as a PDF document."""
    s = _Styles()
    text = letter_text(report)
    story: list[Flowable] = [
        Paragraph(escape(report.site_name), s.body),
        Paragraph(_day(timezone.localtime(report.signed_at)), s.body),
        Spacer(1, 6 * mm),
        Paragraph(f"Dear {escape(report.patient.full_name)},", s.body),
        Paragraph(
            f"Thank you for coming to your diabetic eye screening on {_day(report.visit_date)}.",
            s.body,
        ),
        Paragraph(escape(text["finding"]), s.body),
        Paragraph(escape(text["next_step"]), s.body),
        Paragraph(escape(text["advice"]), s.body),
        Spacer(1, 6 * mm),
        Paragraph(f"Yours sincerely,<br/>{escape(report.signed_by.name)}", s.body),
    ]
    if report.amended:
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

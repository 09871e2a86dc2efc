from collections.abc import Iterable

from django import template

from screening.models import GradingJob, OutcomeRule
from screening.rules import (
    UNGRADABLE,
    AiEyeResult,
    AiImageResult,
    Grade,
    SuggestedOutcome,
    ai_eye_result,
    ai_image_result,
    grade_label,
    suggested_outcome,
)
from screening.selectors import ImageRow
from screening.services.grading import model_card

register = template.Library()

# Names by stored code, derived from screening.rules (for code that has a code in hand; the
# rules' `grade_label` is the one to call).
ICDR_NAMES = {grade.code: grade.label for grade in [*Grade, UNGRADABLE]}


@register.filter
def icdr_name(grade: object) -> str:
    """Grade 2 (or its code '2') -> 'Moderate NPDR'; U -> 'Ungradable'; no grade -> ''."""
    return grade_label(grade)


@register.filter
def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"


@register.filter
def percent_value(value: float | None) -> str:
    """0.2249 -> '22.49' (a CSS-free bar width for <meter>/<progress> and data attributes)."""
    return "0" if value is None else f"{100 * value:.2f}"


@register.filter
def ai_result(job: GradingJob | None) -> AiImageResult | None:
    """The AI's screening decision and grade estimate of a photograph (screening.rules)."""
    if job is None or job.status != GradingJob.Status.SUCCEEDED or not job.gradable:
        return None
    return ai_image_result(
        probabilities=job.probabilities,
        referable_probability=job.referable_probability,
        referable=job.referable,
        threshold=job_referable_threshold(job),
    )


def job_referable_threshold(job: GradingJob) -> float | None:
    """The threshold the job was graded at; for a grading stored before it was recorded, the card's
    when the job is by the shipped model (None when unknown)."""
    if job.referable_threshold is not None:
        return job.referable_threshold
    card = model_card()
    if card.get("model_version") == job.model_version and "referable_threshold" in card:
        return float(card["referable_threshold"])
    return None


@register.filter
def ai_eye(rows: Iterable[ImageRow]) -> AiEyeResult:
    """The AI result of an eye from its photographs' latest gradings."""
    results = (ai_result(row.job) for row in rows)
    return ai_eye_result(result for result in results if result is not None)


@register.filter
def suggested(outcome: OutcomeRule | None) -> SuggestedOutcome | None:
    """The one suggested outcome (with its urgency) of an outcome row."""
    return suggested_outcome(outcome)


@register.filter
def probability_kind(job: GradingJob | None) -> str:
    """What the probabilities on screen are: the grader's calibrated values, or its raw ones."""
    if job is None or not job.calibration:
        return "model probabilities (not calibrated)"
    return f"calibrated probabilities ({job.calibration})"

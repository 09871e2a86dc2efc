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
from screening.services.grading import referable_threshold_of

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
def lowerfirst(value: str) -> str:
    """'No apparent DR' -> 'no apparent DR' (a label inside a sentence keeps its acronyms)."""
    return value[:1].lower() + value[1:]


@register.filter
def ai_result(job: GradingJob | None) -> AiImageResult | None:
    """The AI's screening decision and grade estimate of a photograph (screening.rules)."""
    if job is None or job.status != GradingJob.Status.SUCCEEDED or not job.gradable:
        return None
    return ai_image_result(
        probabilities=job.probabilities,
        referable_probability=job.referable_probability,
        referable=job.referable,
        threshold=referable_threshold_of(job),
    )


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

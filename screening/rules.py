"""DR Portal's clinical rules, in one place, pure and typed: no database, no settings, no I/O.

Every page, letter, API answer and export asks this module (docs/CLINICAL.md):

- Grades: an ICDR `Grade` 0-4 of a gradable eye or image, or `UNGRADABLE`; `EyeGrade` is either,
  and None is "no grade yet". Both are StrEnums of the stored codes ("0"-"4", "U"), so a grade
  read from the database (screening.models.fields.GradeField), shown on a page or written to JSON
  is the same object; `parse_grade` and `grade_code` convert where text meets it (forms, "" in
  the database).
- Eye -> visit: an eye's grade is its worst gradable image (U when it has none); the visit's
  overall grade is the worse eye, U when an eye is U unless the other eye is referable (a
  referable eye is never hidden behind U).
- Referable DR: grade 2 or worse, or macular oedema present.
- Outcome: the key of the programme's outcome table (data, not code: `DEFAULT_OUTCOMES` is what
  a new installation starts with); macular oedema raises a non-referring result to 'DME'.
- Second reader: when a doctor's grade of an eye disagrees with the AI's enough (a
  `SecondReaderPolicy`), a blind second doctor reads; two doctors disagreeing goes to arbitration.
- Suggested outcome and urgency: one `SuggestedOutcome` per visit, its urgency from the outcome's
  referral interval (`outcome_urgency`); the worklist, the pages, the report and the API show it.
- The AI's result of a photograph: the screening decision (P(referable) against the model card's
  threshold) apart from the grade estimate (the grade the model ranks first); `ai_image_result`.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal, Protocol, TypeAlias

EYES: Final = ("right", "left")  # right eye first, as everywhere in DR Portal


class Grade(StrEnum):
    """An ICDR grade of a gradable eye or image (Wilkinson 2003).

    A StrEnum whose values are the stored codes, so the one type travels from the database to the
    screen and into JSON unchanged; order and arithmetic use `level`, never the code.
    """

    NO_DR = "0"
    MILD = "1"
    MODERATE = "2"
    SEVERE = "3"
    PROLIFERATIVE = "4"

    @property
    def level(self) -> int:
        return int(self.value)

    @property
    def code(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        return _GRADE_NAMES[self]

    @property
    def referable(self) -> bool:
        """Moderate NPDR or worse is referable DR."""
        return self.level >= 2


class Ungradable(StrEnum):
    """An eye or image that cannot be graded. It is never silently grade 0."""

    U = "U"

    @property
    def code(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        return "Ungradable"

    @property
    def referable(self) -> bool:
        return False


UNGRADABLE: Final = Ungradable.U
EyeGrade: TypeAlias = Grade | Ungradable
_CODES: Final = frozenset(grade.value for grade in Grade)


def worst(grades: Iterable[Grade]) -> Grade | None:
    """The worst (highest) of some grades; None when there are none."""
    return max(grades, key=lambda grade: grade.level, default=None)


_GRADE_NAMES: Final = {
    Grade.NO_DR: "No apparent DR",
    Grade.MILD: "Mild NPDR",
    Grade.MODERATE: "Moderate NPDR",
    Grade.SEVERE: "Severe NPDR",
    Grade.PROLIFERATIVE: "Proliferative DR",
}


# --- the edges: codes in the database, forms and serialisers -------------------------------------


def parse_grade(code: object) -> EyeGrade | None:
    """'0'-'4' (or 0-4) -> Grade, 'U' -> UNGRADABLE, '' or None (no grade yet) -> None.

    Raises ValueError for anything else: a code that is not a grade is a bug, not a grade.
    """
    if code is None or code == "":
        return None
    if isinstance(code, Grade | Ungradable):
        return code
    if code == UNGRADABLE.value:
        return UNGRADABLE
    if isinstance(code, int) and not isinstance(code, bool):
        return grade_of_level(code)
    if isinstance(code, str) and code in _CODES:
        return Grade(code)
    raise ValueError(f"{code!r} is not an ICDR grade (0-4) or U")


def grade_of_level(level: int) -> Grade:
    """An ICDR level 0-4 (the grader's class) as a Grade; ValueError outside 0-4."""
    return Grade(str(level))


def grade_code(grade: EyeGrade | None) -> str:
    """The stored form of a grade: '0'-'4', 'U', or '' when there is none yet."""
    return "" if grade is None else grade.code


def grade_label(grade: object) -> str:
    """'Moderate NPDR' for grade 2 (or its code); 'Ungradable' for U; '' for no grade."""
    try:
        parsed = parse_grade(grade)
    except ValueError:
        return ""
    return "" if parsed is None else parsed.label


# --- eye -> visit ------------------------------------------------------------------------------


def eye_grade(image_grades: Iterable[Grade | None]) -> EyeGrade:
    """The eye's grade: its worst gradable image (None: an image without a usable grade); U when
    no image of the eye could be graded."""
    eye = worst(grade for grade in image_grades if grade is not None)
    return UNGRADABLE if eye is None else eye


OUTCOME_UNGRADABLE: Final = "U"
OUTCOME_DME: Final = "DME"


@dataclass(frozen=True)
class Summary:
    """A visit's result: the overall grade, whether it is referable (None when an ungradable eye
    leaves it unknown) and the key of the outcome table it leads to."""

    overall: EyeGrade
    referable: bool | None
    outcome_key: str


def visit_summary(right: EyeGrade, left: EyeGrade) -> Summary:
    """The worse eye; U when an eye is U, unless the other eye is referable."""
    gradable = [grade for grade in (right, left) if isinstance(grade, Grade)]
    overall = worst(gradable)
    if overall is not None and overall.referable:
        return Summary(overall, True, overall.code)
    if overall is None or len(gradable) < 2:
        return Summary(UNGRADABLE, None, OUTCOME_UNGRADABLE)
    return Summary(overall, False, overall.code)


Dme = Literal["absent", "present", "not_assessable"]
DME_PRESENT: Final = "present"
DME_NOT_ASSESSABLE: Final = "not_assessable"


class EyeResult(Protocol):
    """A doctor's reading of one eye (screening.models.EyeReading is one)."""

    @property
    def eye(self) -> str: ...

    @property
    def eye_grade(self) -> EyeGrade: ...

    @property
    def dme(self) -> str: ...


def review_summary(readings: Iterable[EyeResult]) -> Summary:
    """The result of a doctor's readings: the same roll-up as the AI's (an eye without a reading
    counts as ungradable); macular oedema in either eye makes it referable and raises a
    non-referring outcome to 'DME' ("DME present: refer, routine at least")."""
    by_eye = {reading.eye: reading for reading in readings}
    right, left = (by_eye[eye].eye_grade if eye in by_eye else UNGRADABLE for eye in EYES)
    summary = visit_summary(right, left)
    if any(reading.dme == DME_PRESENT for reading in by_eye.values()):
        key = summary.outcome_key
        if key in (Grade.NO_DR.code, Grade.MILD.code, OUTCOME_UNGRADABLE):
            key = OUTCOME_DME
        return Summary(summary.overall, True, key)
    return summary


# --- the outcome table a new installation starts with --------------------------------------------


@dataclass(frozen=True)
class OutcomeDefault:
    key: str
    label: str
    referral: bool
    recall_months: int | None
    refer_within_weeks: int | None


DEFAULT_OUTCOMES: Final = (
    OutcomeDefault("0", "Routine rescreen in 12 months", False, 12, None),
    OutcomeDefault("1", "Rescreen in 12 months (6 months if risk factors)", False, 12, None),
    OutcomeDefault("2", "Refer to ophthalmology, routine (within ~13 weeks)", True, None, 13),
    OutcomeDefault("3", "Refer to ophthalmology, soon (within ~4 weeks)", True, None, 4),
    OutcomeDefault("4", "Refer to ophthalmology, urgent (within ~2 weeks)", True, None, 2),
    OutcomeDefault(
        OUTCOME_DME, "Refer to ophthalmology, routine at least (macular oedema)", True, None, 13
    ),
    OutcomeDefault(
        OUTCOME_UNGRADABLE,
        "Re-image, or refer for slit-lamp examination (ungradable)",
        True,
        None,
        None,
    ),
)


# --- the suggested outcome and its urgency ----------------------------------------------------


class Urgency(StrEnum):
    """How soon a visit's outcome asks for action; the worklist reads visits in this order."""

    URGENT = "urgent"  # refer within URGENT_WITHIN_WEEKS
    SOON = "soon"  # refer within SOON_WITHIN_WEEKS
    REIMAGE = "reimage"  # a referral without an interval: re-image or slit-lamp examination
    ROUTINE = "routine"  # refer, routine
    RECALL = "recall"  # no referral: rescreen

    @property
    def rank(self) -> int:
        """0 for the most pressing (the worklist's sort key)."""
        return list(Urgency).index(self)

    @property
    def label(self) -> str:
        return _URGENCY_LABELS[self]


_URGENCY_LABELS: Final = {
    Urgency.URGENT: "Urgent referral",
    Urgency.SOON: "Soon referral",
    Urgency.REIMAGE: "Re-image",
    Urgency.ROUTINE: "Routine referral",
    Urgency.RECALL: "Rescreen",
}
URGENT_WITHIN_WEEKS: Final = 2
SOON_WITHIN_WEEKS: Final = 4


class OutcomeLike(Protocol):
    """A row of the programme's outcome table (screening.models.OutcomeRule is one)."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def referral(self) -> bool: ...

    @property
    def refer_within_weeks(self) -> int | None: ...


def outcome_urgency(*, referral: bool, refer_within_weeks: int | None) -> Urgency:
    """The urgency of an outcome of the table: how soon its referral is due."""
    if not referral:
        return Urgency.RECALL
    if refer_within_weeks is None:
        return Urgency.REIMAGE
    if refer_within_weeks <= URGENT_WITHIN_WEEKS:
        return Urgency.URGENT
    if refer_within_weeks <= SOON_WITHIN_WEEKS:
        return Urgency.SOON
    return Urgency.ROUTINE


@dataclass(frozen=True)
class SuggestedOutcome:
    """The one suggested outcome of a visit, as every page, the report and the API show it."""

    key: str
    label: str
    referral: bool
    urgency: Urgency

    @property
    def urgent(self) -> bool:
        return self.urgency == Urgency.URGENT


def suggested_outcome(outcome: OutcomeLike | None) -> SuggestedOutcome | None:
    """The visit's suggested outcome from its outcome row (the AI's, or a doctor's); None before
    there is one. Urgency follows the row's referral interval, nothing else, so a visit is never
    "urgent" on one page and "refer routine" on another."""
    if outcome is None:
        return None
    urgency = outcome_urgency(
        referral=outcome.referral, refer_within_weeks=outcome.refer_within_weeks
    )
    return SuggestedOutcome(outcome.key, outcome.label, outcome.referral, urgency)


# --- what the AI says about a photograph and an eye ---------------------------------------------


@dataclass(frozen=True)
class AiImageResult:
    """The two things the AI gives for one gradable photograph, kept apart.

    The screening decision: `referable` when P(referable) = P(grade >= 2) is at or above the
    model card's operating threshold (set low, for sensitivity). The grade estimate: the grade the
    model ranks first (`likely_grade`) with its probability, and all five probabilities. The two
    can disagree: a photograph can be flagged referable while no DR is the most probable grade.
    """

    referable: bool
    referable_probability: float
    threshold: float | None
    likely_grade: Grade
    likely_probability: float
    probabilities: tuple[float, ...]

    @property
    def disagrees(self) -> bool:
        """The referral flag and the most probable grade point different ways."""
        return self.referable != self.likely_grade.referable

    @property
    def probability_rows(self) -> list[tuple[Grade, float]]:
        return [(grade_of_level(level), p) for level, p in enumerate(self.probabilities)]


def ai_image_result(
    *,
    probabilities: list[float] | None,
    referable_probability: float | None,
    referable: bool | None,
    threshold: float | None,
) -> AiImageResult | None:
    """The AI result of a photograph from the grader's stored numbers; None when it has none
    (ungradable, failed or not graded). `referable` is the grader's own decision."""
    if not probabilities or referable_probability is None or referable is None:
        return None
    level = max(range(len(probabilities)), key=lambda i: probabilities[i])
    return AiImageResult(
        referable=referable,
        referable_probability=referable_probability,
        threshold=threshold,
        likely_grade=grade_of_level(level),
        likely_probability=probabilities[level],
        probabilities=tuple(probabilities),
    )


@dataclass(frozen=True)
class AiEyeResult:
    """The AI result of an eye: referable when a photograph of it is (with the highest
    P(referable) of its photographs), and the worst grade its photographs rank first (the eye
    takes its worst photograph, as `eye_grade`); U when none of its photographs was gradable."""

    referable: bool | None
    referable_probability: float | None
    threshold: float | None
    likely_grade: EyeGrade
    likely_probability: float | None
    photographs: int = 0  # gradable photographs rolled up (with 2+, the figures may come from two)

    @property
    def disagrees(self) -> bool:
        if self.referable is None or not isinstance(self.likely_grade, Grade):
            return False
        return self.referable != self.likely_grade.referable


def ai_eye_result(images: Iterable[AiImageResult]) -> AiEyeResult:
    """Roll up the AI results of an eye's gradable photographs (see `AiEyeResult`)."""
    results = list(images)
    if not results:
        return AiEyeResult(None, None, None, UNGRADABLE, None)
    sharpest = max(results, key=lambda r: r.referable_probability)
    worst_likely = max(results, key=lambda r: (r.likely_grade.level, r.likely_probability))
    return AiEyeResult(
        referable=any(r.referable for r in results),
        referable_probability=sharpest.referable_probability,
        threshold=sharpest.threshold,
        likely_grade=worst_likely.likely_grade,
        likely_probability=worst_likely.likely_probability,
        photographs=len(results),
    )


# --- "agree with the AI" -------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreedReading:
    """What 'agree with the AI' records for an eye; `dme` None keeps what the doctor chose."""

    gradable: bool
    grade: Grade | None
    ungradable_reason: str
    dme: Dme | None


def agree_with_ai(ai: EyeGrade | None) -> AgreedReading:
    """The AI's eye grade as the doctor's reading; an eye the AI could not grade (or has no grade
    for) is ungradable, with DME not assessable."""
    if isinstance(ai, Grade):
        return AgreedReading(gradable=True, grade=ai, ungradable_reason="", dme=None)
    return AgreedReading(
        gradable=False,
        grade=None,
        ungradable_reason="Ungradable (agrees with the AI)",
        dme=DME_NOT_ASSESSABLE,
    )


# --- second reading and arbitration --------------------------------------------------------------


@dataclass(frozen=True)
class SecondReaderPolicy:
    """When two grades of one eye disagree enough to need another reader
    (settings.REVIEW_SECOND_READER_*)."""

    step_diff: int = 2
    on_referable_change: bool = True
    on_gradability_change: bool = True


def grades_disagree(a: EyeGrade | None, b: EyeGrade | None, policy: SecondReaderPolicy) -> bool:
    """Whether two grades of one eye disagree enough to need another reader; no grade (None)
    counts as ungradable."""
    a, b = a or UNGRADABLE, b or UNGRADABLE
    if a == b:
        return False
    if not isinstance(a, Grade) or not isinstance(b, Grade):
        return policy.on_gradability_change
    if abs(a.level - b.level) >= policy.step_diff:
        return True
    return policy.on_referable_change and a.referable != b.referable


def disagreeing_eyes_with_ai(
    readings: Iterable[EyeResult],
    ai_grades: Mapping[str, EyeGrade | None],
    policy: SecondReaderPolicy,
) -> list[str]:
    """The eyes whose doctor's grade disagrees with the AI's (see `grades_disagree`)."""
    return [
        reading.eye
        for reading in readings
        if grades_disagree(ai_grades.get(reading.eye), reading.eye_grade, policy)
    ]


def disagreeing_eyes(
    first: Iterable[EyeResult], second: Iterable[EyeResult], policy: SecondReaderPolicy
) -> list[str]:
    """The eyes on which two doctors disagree: grade (see `grades_disagree`) or DME present."""
    other = {reading.eye: reading for reading in second}
    eyes = []
    for reading in first:
        theirs = other.get(reading.eye)
        if (
            theirs is None
            or grades_disagree(reading.eye_grade, theirs.eye_grade, policy)
            or (reading.dme == DME_PRESENT) != (theirs.dme == DME_PRESENT)
        ):
            eyes.append(reading.eye)
    return eyes

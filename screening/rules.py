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
- Urgency: an AI result of proliferative DR, or a referable one the model is very sure of, is
  read first.
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


# --- urgency ----------------------------------------------------------------------------------


def is_urgent(
    *,
    overall: EyeGrade | None,
    referable: bool | None,
    max_referable_probability: float | None,
    threshold: float,
) -> bool:
    """Read first: proliferative DR, or a referable result with a referable probability of at
    least `threshold` on one of its images (settings.REVIEW_URGENT_REFERABLE_PROBABILITY)."""
    if overall == Grade.PROLIFERATIVE:
        return True
    return bool(referable) and (max_referable_probability or 0.0) >= threshold


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

"""The clinical rules of the doctors' review, as pure functions (no database access).

- Outcome: the doctor's per-eye grades go through the same `summarise()` as the AI roll-up
  (worse eye; U unless the other eye is referable); macular oedema then raises a non-referring
  result to the 'DME' outcome (CLINICAL.md: "DME present: refer, routine at least").
- Second reader: settings.REVIEW_SECOND_READER_* decide when a doctor's grade of an eye disagrees
  with the AI's enough to need a second, blind doctor's grading; the same test between two doctors
  (plus DME present versus not) sends the visit to arbitration.
"""

from collections.abc import Iterable
from typing import Protocol

from django.conf import settings

from screening.services.grading import summarise

UNGRADABLE = "U"
RIGHT_LEFT = ("right", "left")


class EyeResult(Protocol):
    eye: str
    dme: str

    @property
    def code(self) -> str: ...


def grade_or_none(code: str) -> int | None:
    """'0'-'4' -> 0-4; 'U' or '' (ungradable, or no reading) -> None."""
    return int(code) if code and code.isdigit() else None


def review_summary(readings: Iterable[EyeResult]) -> tuple[str, bool | None, str]:
    """(overall grade code '0'-'4' or 'U', referable or None when unknown, OutcomeRule key) of the
    doctor's readings. An eye without a reading counts as ungradable."""
    by_eye = {r.eye: r for r in readings}
    right, left = (grade_or_none(by_eye[e].code) if e in by_eye else None for e in RIGHT_LEFT)
    overall, referable, key = summarise(right, left)
    if any(r.dme == "present" for r in by_eye.values()):
        referable = True
        if key in ("0", "1", UNGRADABLE):
            key = "DME"
    return (UNGRADABLE if overall is None else str(overall)), referable, key


def codes_disagree(a: str, b: str) -> bool:
    """Whether two grades of one eye ('0'-'4' or 'U') disagree enough to need another reader."""
    a, b = a or UNGRADABLE, b or UNGRADABLE
    if a == b:
        return False
    if UNGRADABLE in (a, b):
        return settings.REVIEW_SECOND_READER_ON_GRADABILITY_CHANGE
    first, second = int(a), int(b)
    if abs(first - second) >= settings.REVIEW_SECOND_READER_STEP_DIFF:
        return True
    return settings.REVIEW_SECOND_READER_ON_REFERABLE_CHANGE and (first >= 2) != (second >= 2)


def disagreeing_eyes_with_ai(readings: Iterable[EyeResult], ai_grades: dict[str, str]) -> list[str]:
    """The eyes whose doctor's grade disagrees with the AI's (see `codes_disagree`)."""
    return [r.eye for r in readings if codes_disagree(ai_grades.get(r.eye, ""), r.code)]


def disagreeing_eyes(first: Iterable[EyeResult], second: Iterable[EyeResult]) -> list[str]:
    """The eyes on which two doctors disagree: grade (see `codes_disagree`) or DME present."""
    other = {r.eye: r for r in second}
    eyes = []
    for reading in first:
        theirs = other.get(reading.eye)
        if (
            theirs is None
            or codes_disagree(reading.code, theirs.code)
            or (reading.dme == "present") != (theirs.dme == "present")
        ):
            eyes.append(reading.eye)
    return eyes

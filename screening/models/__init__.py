from screening.models.grading import GradingJob, OutcomeRule
from screening.models.image import Eye, Field, FundusImage
from screening.models.review import (
    Addendum,
    Dme,
    EyeReading,
    Review,
    SignedRecordLocked,
    SignOff,
)
from screening.models.visit import Visit

__all__ = [
    "Addendum",
    "Dme",
    "Eye",
    "EyeReading",
    "Field",
    "FundusImage",
    "GradingJob",
    "OutcomeRule",
    "Review",
    "SignOff",
    "SignedRecordLocked",
    "Visit",
]

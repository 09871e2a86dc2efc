from screening.models.grading import GradingJob, OutcomeRule
from screening.models.image import Eye, Field, FundusImage
from screening.models.visit import Visit

__all__ = ["Eye", "Field", "FundusImage", "GradingJob", "OutcomeRule", "Visit"]

"""The worklist orders by urgency in SQL; it must say what screening.rules.is_urgent says."""

import pytest
from django.conf import settings
from django.db.models import Max

from screening.models import GradingJob
from screening.rules import is_urgent
from screening.selectors import review_worklist
from tests.factories import make_graded_visit

pytestmark = pytest.mark.django_db

CASES = [  # right, left, model confidence, urgent?
    (4, 0, 0.5, True),  # proliferative: always first
    (3, 0, 0.95, True),  # referable, and the model is sure
    (3, 0, 0.8, False),
    (1, 0, 0.99, False),  # sure, but not referable
    (None, 3, 0.95, True),  # a referable eye beside an ungradable one
    (None, 0, 0.99, False),
]


def test_worklist_urgency_is_the_rule(doctor, nurse, patient):
    expected = {}
    for right, left, confidence, urgent in CASES:
        visit = make_graded_visit(
            nurse=nurse, patient=patient, right=right, left=left, confidence=confidence
        )
        expected[visit.pk] = urgent
    for visit in review_worklist(user=doctor):
        p = GradingJob.objects.filter(image__visit=visit, status="succeeded").aggregate(
            p=Max("referable_probability")
        )["p"]
        by_rule = is_urgent(
            overall=visit.ai_overall,
            referable=visit.ai_referable,
            max_referable_probability=p,
            threshold=settings.REVIEW_URGENT_REFERABLE_PROBABILITY,
        )
        assert (visit.urgent, by_rule) == (expected[visit.pk], expected[visit.pk]), visit.pk
    assert len(review_worklist(user=doctor)) == len(CASES)

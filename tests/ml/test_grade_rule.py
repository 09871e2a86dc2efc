"""The grade the grader reports agrees with its own referable decision and probabilities."""

import numpy as np
import pytest

from ml.grader import referable_first_grade


@pytest.mark.parametrize(
    ("probs", "referable", "grade"),
    [
        # P(3) = 0.83: a severe NPDR result, never "grade 4 with P(4) = 0".
        ([0.0, 0.02, 0.15, 0.83, 0.0], True, 3),
        # Most likely grade 1, but P(grade >= 2) crossed the sensitive threshold: referable side.
        ([0.11, 0.65, 0.20, 0.03, 0.01], True, 2),
        ([0.11, 0.65, 0.20, 0.03, 0.01], False, 1),
        ([0.90, 0.06, 0.03, 0.01, 0.0], False, 0),
        ([0.05, 0.05, 0.10, 0.10, 0.70], True, 4),
    ],
)
def test_grade_stays_on_the_side_of_the_referable_decision(probs, referable, grade):
    assert referable_first_grade(np.array(probs), referable) == grade
    assert (grade >= 2) == referable


def test_shipped_grader_results_are_coherent(shipped_grader):
    from pathlib import Path

    samples = sorted((Path(__file__).resolve().parents[2] / "ml" / "samples").glob("*.jpg"))
    results = shipped_grader.grade([p.read_bytes() for p in samples])
    gradable = [r for r in results if r.gradable]
    # The check means nothing if every sample were refused: most samples are gradable photographs.
    assert len(samples) >= 6 and len(gradable) >= len(samples) - 1
    for result in gradable:
        assert (result.grade >= 2) == result.referable
        assert result.confidence == pytest.approx(result.probabilities[result.grade])

"""The pure rules: the doctor's outcome, the second-reader test, and the dashboard's kappa."""

import numpy as np
import pytest

from screening.dashboard import bar_chart, confusion_matrix, quadratic_weighted_kappa
from screening.review_rules import codes_disagree, disagreeing_eyes, review_summary


class Reading:
    def __init__(self, eye: str, code: str, dme: str = "absent") -> None:
        self.eye, self.code, self.dme = eye, code, dme


@pytest.mark.parametrize(
    ("right", "left", "dme", "expected"),
    [
        ("0", "0", "absent", ("0", False, "0")),
        ("1", "0", "absent", ("1", False, "1")),
        ("1", "0", "present", ("1", True, "DME")),
        ("3", "0", "present", ("3", True, "3")),  # a worse referral is kept
        ("U", "1", "absent", ("U", None, "U")),
        ("U", "2", "absent", ("2", True, "2")),
        ("U", "U", "not_assessable", ("U", None, "U")),
    ],
)
def test_review_summary(right, left, dme, expected):
    readings = [Reading("right", right, dme), Reading("left", left)]
    assert review_summary(readings) == expected


def test_an_eye_without_a_reading_counts_as_ungradable():
    assert review_summary([Reading("right", "0")]) == ("U", None, "U")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("0", "0", False),
        ("0", "1", False),
        ("2", "3", False),
        ("0", "2", True),  # two steps, and crosses the referable line
        ("1", "2", True),  # crosses the referable line
        ("2", "4", True),  # two steps
        ("U", "0", True),
        ("", "0", True),
    ],
)
def test_codes_disagree_with_default_settings(a, b, expected):
    assert codes_disagree(a, b) is expected


def test_codes_disagree_follows_the_settings(settings):
    settings.REVIEW_SECOND_READER_STEP_DIFF = 3
    settings.REVIEW_SECOND_READER_ON_REFERABLE_CHANGE = False
    settings.REVIEW_SECOND_READER_ON_GRADABILITY_CHANGE = False
    assert not codes_disagree("1", "2") and not codes_disagree("2", "4")
    assert not codes_disagree("U", "3") and codes_disagree("0", "3")


def test_doctors_disagreeing_on_dme_go_to_arbitration():
    first = [Reading("right", "1", "present"), Reading("left", "1")]
    second = [Reading("right", "1", "absent"), Reading("left", "1")]
    assert disagreeing_eyes(first, second) == ["right"]


def test_kappa_perfect_chance_and_known_value():
    assert quadratic_weighted_kappa(np.eye(5, dtype=int) * 3) == pytest.approx(1.0)
    assert quadratic_weighted_kappa(np.zeros((5, 5), dtype=int)) is None
    # Rater A: 0,1,2,3,4; rater B one step higher except at 4 (hand-computed: 1 - 4/12.5).
    pairs = [("0", "1"), ("1", "2"), ("2", "3"), ("3", "4"), ("4", "4")]
    matrix = confusion_matrix(pairs)
    assert matrix.sum() == 5 and matrix[0, 1] == 1
    observed = sum((int(a) - int(b)) ** 2 for a, b in pairs) / 16
    rows, cols = matrix.sum(axis=1), matrix.sum(axis=0)
    expected = sum(rows[i] * cols[j] * (i - j) ** 2 / 16 for i in range(5) for j in range(5)) / 5
    assert quadratic_weighted_kappa(matrix) == pytest.approx(1 - observed / expected)


def test_bar_chart_scales_to_the_largest_value():
    chart = bar_chart([("a", 0), ("b", 5), ("c", 10)])
    heights = [bar.height for bar in chart["bars"]]
    assert heights[0] == 0 and heights[2] == pytest.approx(2 * heights[1])

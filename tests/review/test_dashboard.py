"""The dashboard's pure parts: quadratic weighted kappa, the confusion matrix, bar charts."""

import numpy as np
import pytest

from screening.dashboard import bar_chart, confusion_matrix, quadratic_weighted_kappa


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

"""Choosing an ensemble on the tune split (ml.training.ensemble), on synthetic member outputs."""

from __future__ import annotations

import numpy as np

from ml.training import ensemble as E


def test_weight_grid_sums_to_one():
    grid = E.weight_grid(3)
    assert len(grid) == 15 and len(set(grid)) == 15
    assert all(abs(sum(w) - 1) < 1e-9 and min(w) >= 0 for w in grid)
    assert (1.0, 0.0, 0.0) in grid and (0.5, 0.25, 0.25) in grid


def _probs_from_grades(grades: np.ndarray, noise: float, rng) -> np.ndarray:
    logits = -((np.arange(5)[None, :] - grades[:, None]) ** 2) + rng.normal(
        0, noise, (len(grades), 5)
    )
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True)


def test_choose_prefers_the_informative_member_and_reports_the_grid():
    """An informative member gets the weight; a member of pure noise gets none."""
    rng = np.random.default_rng(0)
    y = {"tune": rng.choice(5, 400, p=[0.6, 0.1, 0.2, 0.05, 0.05])}
    good = {v: _probs_from_grades(y["tune"], 1.0, rng) for v in E.VIEW_SETS[4]}
    noise = {v: _probs_from_grades(rng.choice(5, 400), 1.0, rng) for v in E.VIEW_SETS[4]}
    names = ["G", "N"]
    probs = {"G": {"tune": good}, "N": {"tune": noise}}
    weights, n_views, grid = E.choose(names, probs, y["tune"], (1, 4))
    assert weights == (1.0, 0.0)
    assert n_views in (1, 4) and len(grid) == 2 * len(E.weight_grid(2))
    chosen = next(g for g in grid if g["weights"] == weights and g["views"] == n_views)
    assert chosen["score"] == max(g["score"] for g in grid)
    combined = E.combine(names, probs, "tune", weights, 1)
    assert np.allclose(combined, good["identity"])

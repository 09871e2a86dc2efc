"""Choosing an ensemble on the tune split (ml.ensemble), on synthetic member outputs."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from ml import ensemble as E


def test_parse_member():
    assert E.parse_member("E=/tmp/w.npz@320") == {
        "name": "E",
        "path": E.Path("/tmp/w.npz"),
        "upsample": 320,
    }
    assert E.parse_member("B=ml/weights/model_b.weights.npz")["upsample"] == 0
    with pytest.raises(argparse.ArgumentTypeError):
        E.parse_member("no-equals-sign")


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
    members = [{"name": "G"}, {"name": "N"}]
    probs = {"G": {"tune": good}, "N": {"tune": noise}}
    weights, n_views, grid = E.choose(members, probs, y, [1, 4])
    assert weights == (1.0, 0.0)
    assert n_views in (1, 4) and len(grid) == 2 * len(E.weight_grid(2))
    chosen = next(g for g in grid if g["weights"] == weights and g["views"] == n_views)
    assert chosen["score"] == max(g["score"] for g in grid)
    combined = E.combine(members, probs, "tune", weights, 1)
    assert np.allclose(combined, good["identity"])

"""Metric helpers."""

from __future__ import annotations

import numpy as np

from ml import metrics


def test_kappa_and_confusion():
    y = np.array([0, 1, 2, 3, 4, 0, 2])
    assert metrics.quadratic_weighted_kappa(y, y) == 1.0
    assert metrics.quadratic_weighted_kappa(y, 4 - y) < 0
    assert metrics.confusion_matrix(y, y).trace() == len(y)


def test_auc_and_sens_spec():
    y = np.array([0, 0, 1, 1])
    assert metrics.roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert metrics.roc_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert metrics.sens_spec(y, np.array([0.1, 0.6, 0.8, 0.4]), 0.5) == (0.5, 0.5)


def test_cut_optimisation_and_sensitivity_threshold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 300)
    expect = np.clip(y * 0.6 + rng.normal(0, 0.3, 300), 0, 4)
    cuts = metrics.optimise_cuts(expect, y)
    assert list(cuts) == sorted(cuts)
    base = metrics.quadratic_weighted_kappa(y, metrics.grades_from_expectation(expect))
    tuned = metrics.grades_from_expectation(expect, cuts)
    assert metrics.quadratic_weighted_kappa(y, tuned) >= base
    score = rng.random(100)
    lab = rng.random(100) < 0.3
    thr = metrics.threshold_for_sensitivity(lab, score, 0.85)
    assert metrics.sens_spec(lab, score, thr)[0] >= 0.85

"""Choices made on the tune split: class weights, operating points, the selection score."""

from __future__ import annotations

import numpy as np

from ml import metrics


def class_weights(y: np.ndarray, power: float = 0.5) -> np.ndarray:
    """Per-class weights (n / n_k) ** power, normalised to mean 1 over samples."""
    counts = np.bincount(y, minlength=metrics.NUM_GRADES).astype(np.float64)
    w = (counts.sum() / np.maximum(counts, 1)) ** power
    return w / (w[y].mean())


def choose_operating_points(
    y: np.ndarray, probs: np.ndarray, sensitivity: float = 0.85
) -> tuple[tuple, float]:
    """Kappa-maximising cut points of the expected grade, and the largest referable threshold
    that keeps ``sensitivity`` on ``y, probs``."""
    cuts = metrics.optimise_cuts(metrics.expected_grade(probs), y)
    thr = metrics.threshold_for_sensitivity(y >= 2, probs[:, 2:].sum(1), sensitivity)
    return cuts, round(thr, 4)


def summarise(y: np.ndarray, probs: np.ndarray, cuts: tuple, threshold: float) -> dict:
    """Headline metrics of 5-class probabilities against grades ``y``."""
    ref_p = probs[:, 2:].sum(1)
    pred = metrics.grades_from_expectation(metrics.expected_grade(probs), cuts)
    sens, spec = metrics.sens_spec(y >= 2, ref_p, threshold)
    return {
        "n": len(y),
        "referable_auc": round(metrics.roc_auc(y >= 2, ref_p), 4),
        "quadratic_weighted_kappa": round(metrics.quadratic_weighted_kappa(y, pred), 4),
        "accuracy": round(float((pred == y).mean()), 4),
        "sensitivity": round(sens, 4),
        "specificity": round(spec, 4),
        "per_grade_recall": [
            None if r is None else round(r, 4) for r in metrics.per_grade_recall(y, pred)
        ],
    }


def score(summary: dict) -> float:
    """Selection score of epochs and ensembles: referable AUC + quadratic weighted kappa."""
    return float(np.nan_to_num(summary["referable_auc"] + summary["quadratic_weighted_kappa"]))


def tune_summary(y: np.ndarray, probs: np.ndarray, sensitivity: float = 0.85) -> dict:
    """Summary at operating points chosen on the same predictions (the epoch-selection view)."""
    return summarise(y, probs, *choose_operating_points(y, probs, sensitivity))

"""Evaluation metrics in plain numpy (no scikit-learn at runtime)."""

from __future__ import annotations

import numpy as np

NUM_GRADES = 5
DEFAULT_CUTS = (0.5, 1.5, 2.5, 3.5)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int = NUM_GRADES) -> np.ndarray:
    """Counts ``m[t, p]`` of true grade ``t`` predicted as ``p``."""
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return m


def quadratic_weighted_kappa(y_true: np.ndarray, y_pred: np.ndarray, n: int = NUM_GRADES) -> float:
    """Cohen's kappa with quadratic weights (the Kaggle DR metric)."""
    o = confusion_matrix(y_true, y_pred, n).astype(np.float64)
    if o.sum() == 0:
        return 0.0
    idx = np.arange(n)
    w = (idx[:, None] - idx[None, :]) ** 2 / (n - 1) ** 2
    e = np.outer(o.sum(1), o.sum(0)) / o.sum()
    den = (w * e).sum()
    return float(1.0 - (w * o).sum() / den) if den > 0 else 0.0


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN if one class is absent."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def sens_spec(y: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float]:
    """Sensitivity and specificity of ``score >= threshold`` for binary labels ``y``."""
    y = np.asarray(y).astype(bool)
    pred = np.asarray(score) >= threshold
    sens = float((pred & y).sum() / max(y.sum(), 1))
    spec = float((~pred & ~y).sum() / max((~y).sum(), 1))
    return sens, spec


def expected_grade(probs: np.ndarray) -> np.ndarray:
    """Expectation of the grade under the predicted distribution, shape (N,)."""
    return np.asarray(probs, dtype=np.float64) @ np.arange(probs.shape[1], dtype=np.float64)


def grades_from_expectation(
    expect: np.ndarray, cuts: tuple[float, ...] = DEFAULT_CUTS
) -> np.ndarray:
    """Map expected grades to integer grades with increasing cut points."""
    return np.digitize(np.asarray(expect), np.asarray(cuts, dtype=np.float64)).astype(np.int64)


def optimise_cuts(expect: np.ndarray, y: np.ndarray, rounds: int = 3) -> tuple[float, ...]:
    """Coordinate search of the 4 cut points maximising quadratic weighted kappa."""
    cuts = list(DEFAULT_CUTS)
    grid = np.linspace(0.0, 4.0, 161)
    for _ in range(rounds):
        for k in range(len(cuts)):
            lo = cuts[k - 1] + 0.01 if k > 0 else 0.0
            hi = cuts[k + 1] - 0.01 if k < len(cuts) - 1 else 4.0
            best = (
                quadratic_weighted_kappa(y, grades_from_expectation(expect, tuple(cuts))),
                cuts[k],
            )
            for c in grid[(grid > lo) & (grid < hi)]:
                trial = cuts.copy()
                trial[k] = float(c)
                kap = quadratic_weighted_kappa(y, grades_from_expectation(expect, tuple(trial)))
                if kap > best[0] + 1e-9:
                    best = (kap, float(c))
            cuts[k] = best[1]
    return tuple(round(c, 4) for c in cuts)


def threshold_for_sensitivity(y: np.ndarray, score: np.ndarray, target: float) -> float:
    """Largest threshold whose sensitivity on (y, score) is at least ``target``."""
    y = np.asarray(y).astype(bool)
    pos = np.sort(np.asarray(score)[y])[::-1]
    if pos.size == 0:
        return 0.5
    k = int(np.ceil(target * pos.size)) - 1
    return float(pos[min(max(k, 0), pos.size - 1)])


def per_grade_recall(y_true: np.ndarray, y_pred: np.ndarray, n: int = NUM_GRADES) -> list:
    """Recall of each grade (None where the grade is absent)."""
    m = confusion_matrix(y_true, y_pred, n)
    return [float(m[i, i] / m[i].sum()) if m[i].sum() else None for i in range(n)]

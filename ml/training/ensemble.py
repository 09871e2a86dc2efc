"""Ensemble of the trained members: weights and test-time views chosen on the tune split.

Every weighting of the members on a ``grid_step`` grid and every test-time view set of
``view_sets`` is scored on tune by referable AUC + quadratic weighted kappa (operating points
fitted on the same tune predictions, as for epoch selection); the best one ships. Members with
weight 0 do not ship; the highest-weighted member comes first and draws the Grad-CAM heatmaps.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ml import model as M
from ml.training.images import VIEWS, apply_view
from ml.training.selection import score, tune_summary

VIEW_SETS = {1: VIEWS[:1], 2: VIEWS[:2], 4: VIEWS}


def weight_grid(n: int, step: float = 0.25) -> list[tuple[float, ...]]:
    """All weightings of ``n`` members on a ``step`` grid that sum to 1 (zero weights allowed)."""
    k = round(1 / step)
    return [
        tuple(c * step for c in combo)
        for combo in itertools.product(range(k + 1), repeat=n)
        if sum(combo) == k
    ]


def member_probs(
    weights_file: Path,
    input_size: int,
    width: float,
    upsample: int,
    images: dict,
    cache: Path,
    graph: bool = True,
) -> dict:
    """{split: {view: (N, 5)}} of one member exactly as shipped (fp16 npz), cached as .npz."""
    cache = Path(cache)
    if cache.exists():
        with np.load(cache) as data:
            return {s: {v: data[f"{s}/{v}"] for v in VIEWS} for s in images}
    from ml.training.members import compiled

    model = M.build_full_model(input_size, width, upsample=upsample)
    M.load_weights_npz(model, weights_file)
    fn = compiled(lambda x: model(x, training=False), graph)
    out: dict = {}
    for split, x in images.items():
        out[split] = {}
        for v in VIEWS:
            xv = apply_view(x, v)
            out[split][v] = np.concatenate(
                [
                    np.asarray(fn(np.ascontiguousarray(xv[s : s + 50]).astype(np.float32)))
                    for s in range(0, len(xv), 50)
                ]
            )
    np.savez(cache, **{f"{s}/{v}": a for s, views in out.items() for v, a in views.items()})
    return out


def combine(names: list[str], probs: dict, split: str, weights, n_views: int) -> np.ndarray:
    """Weighted average over members of the mean over the test-time views."""
    views = VIEW_SETS[n_views]
    return sum(
        w * np.mean([probs[n][split][v] for v in views], axis=0)
        for n, w in zip(names, weights, strict=True)
    )


def choose(
    names: list[str],
    probs: dict,
    y_tune: np.ndarray,
    view_sets: tuple[int, ...],
    step: float = 0.25,
    sensitivity: float = 0.85,
) -> tuple[tuple, int, list[dict]]:
    """Best (weights, number of views) on tune, and the whole scored grid."""
    grid = []
    for n_views in view_sets:
        for w in weight_grid(len(names), step):
            s = tune_summary(y_tune, combine(names, probs, "tune", w, n_views), sensitivity)
            grid.append({"weights": w, "views": n_views, "tune": s, "score": score(s)})
    best = max(grid, key=lambda g: g["score"])
    return best["weights"], best["views"], grid

"""Probability calibration: temperature scaling, expected calibration error, reliability tables.

Doctors see the grader's probabilities, so they should mean what they say: of the eyes shown a
referable probability near 0.3, about 30 % should be referable. Temperature scaling divides the
log-probabilities by one number ``T`` fitted on predictions the model did not train on
(out-of-fold or tune predictions) by minimising the negative log-likelihood of the true grades;
``T > 1`` softens an over-confident model. A card that carries
``"calibration": {"method": "temperature", "temperature": T}`` makes the grader apply it; a card
without it leaves the probabilities untouched. Plain numpy and PIL.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

TEMPERATURE = "temperature"
EPS = 1e-12


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of ``log(probs) / temperature`` along the last axis (T = 1 returns ``probs``)."""
    p = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0:
        return p
    z = np.log(np.clip(p, EPS, 1.0)) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def apply_card_calibration(probs: np.ndarray, card: dict) -> np.ndarray:
    """Apply the calibration a model card carries; the probabilities unchanged when it has none."""
    cal = card.get("calibration") or {}
    if cal.get("method") == TEMPERATURE:
        return apply_temperature(probs, float(cal["temperature"]))
    if cal:
        raise ValueError(f"unknown calibration method {cal.get('method')!r}")
    return probs


def negative_log_likelihood(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean -log p(true grade)."""
    p = np.asarray(probs, dtype=np.float64)[np.arange(len(y)), np.asarray(y, dtype=int)]
    return float(-np.log(np.clip(p, EPS, 1.0)).mean())


def fit_temperature(
    probs: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0, iters: int = 80
) -> float:
    """Temperature in [lo, hi] minimising the NLL of grades ``y`` (golden-section on log T).

    The NLL of temperature scaling is convex in 1 / T, so the search finds the optimum.
    """
    a, b = np.log(lo), np.log(hi)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0

    def nll(log_t: float) -> float:
        return negative_log_likelihood(apply_temperature(probs, float(np.exp(log_t))), y)

    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
    return round(float(np.exp((a + b) / 2.0)), 4)


def reliability_table(prob: np.ndarray, outcome: np.ndarray, bins: int = 10) -> list[dict]:
    """Equal-width bins of a predicted probability: count, mean prediction, observed frequency."""
    prob = np.asarray(prob, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    rows = []
    for k in range(bins):
        sel = which == k
        n = int(sel.sum())
        rows.append(
            {
                "bin": [round(float(edges[k]), 2), round(float(edges[k + 1]), 2)],
                "n": n,
                "mean_predicted": round(float(prob[sel].mean()), 4) if n else None,
                "observed": round(float(outcome[sel].mean()), 4) if n else None,
            }
        )
    return rows


def expected_calibration_error(prob: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |mean prediction - observed frequency| over the reliability bins."""
    rows = reliability_table(prob, outcome, bins)
    total = sum(r["n"] for r in rows)
    if not total:
        return float("nan")
    gap = sum(r["n"] * abs(r["mean_predicted"] - r["observed"]) for r in rows if r["n"])
    return round(gap / total, 4)


def reliability_markdown(rows: list[dict]) -> str:
    """Markdown table of :func:`reliability_table` rows."""
    lines = ["| predicted | n | mean predicted | observed |", "|---|---|---|---|"]
    for r in rows:
        if r["n"]:
            lines.append(
                f"| {r['bin'][0]:.1f}-{r['bin'][1]:.1f} | {r['n']} | {r['mean_predicted']:.3f} "
                f"| {r['observed']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def draw_reliability(rows: list[dict], path: Path, title: str = "") -> None:
    """Reliability diagram PNG: observed frequency against mean prediction per bin, with the
    diagonal of perfect calibration and the bin counts."""
    size, pad = 360, 50
    img = Image.new("RGB", (size + 2 * pad, size + 2 * pad), "white")
    d = ImageDraw.Draw(img)

    def xy(px: float, py: float) -> tuple[float, float]:
        return pad + px * size, pad + (1.0 - py) * size

    d.rectangle([xy(0, 1), xy(1, 0)], outline="black")
    d.line([xy(0, 0), xy(1, 1)], fill="grey", width=1)
    for r in rows:
        if not r["n"]:
            continue
        lo, hi = r["bin"]
        d.rectangle([xy(lo + 0.01, r["observed"]), xy(hi - 0.01, 0)], fill=(120, 150, 230))
        d.ellipse(
            [
                *(v - 4 for v in xy(r["mean_predicted"], r["observed"])),
                *(v + 4 for v in xy(r["mean_predicted"], r["observed"])),
            ],
            fill="red",
        )
        d.text((xy(lo + 0.02, 0.0)[0], pad + size + 5), str(r["n"]), fill="black")
    d.text((pad, 15), title or "reliability", fill="black")
    d.text((pad + size // 2 - 40, pad + size + 25), "mean predicted", fill="black")
    d.text((5, pad - 15), "observed", fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)

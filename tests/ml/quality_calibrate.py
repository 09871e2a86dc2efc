"""Print the quality measurements behind the thresholds in ``ml.quality``.

``python -m tests.ml.quality_calibrate [--data-dir DIR] [--n 120]`` (default data: $DR_DATA_DIR)

It lives with the tests because it needs their synthetic images (``tests/ml/synthetic.py``); the
share of real labelled photographs the gate refuses is ``python -m ml.quality_report``.

Measures real images (eyepacs-natural, eyepacs256), degraded copies of natural images (blur,
darkening, over-exposure, side cut, zoom) and synthetic non-fundus images (documents, faces), then
prints per-set percentiles of every measurement and the share of each quality verdict.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from ml.data import data_root
from ml.preprocess import preprocess_bytes
from ml.quality import assess
from tests.ml import synthetic as S

DEGRADATIONS = {
    "natural_blur_r0.6%": lambda im: S.blurred(im, 0.006),
    "natural_blur_r1.2%": lambda im: S.blurred(im, 0.012),
    "natural_blur_r2%": lambda im: S.blurred(im, 0.02),
    "natural_dark_x0.15": lambda im: S.darkened(im, 0.15),
    "natural_bright_x3": lambda im: S.over_exposed(im, 3.0),
    "natural_cut_side60%": lambda im: S.cut_side(im, 0.6),
    "natural_zoom50%": lambda im: S.zoomed(im, 0.5),
}
KEYS = (
    "border_brightness",
    "circle_fill",
    "green_red",
    "blue_red",
    "saturation",
    "aspect",
    "brightness",
    "saturated_fraction",
    "corner_brightness",
    "texture_coverage",
    "fine_detail",
    "grey_std",
)


def _sample(folder: Path, n: int) -> list[Path]:
    files = sorted((folder / "images").glob("*.jp*g"))
    step = max(1, len(files) // n)
    return files[::step][:n]


def _measure_set(images: list[bytes]) -> tuple[dict, Counter]:
    rows, verdicts = [], Counter()
    for data in images:
        q = assess(preprocess_bytes(data))
        rows.append(q.metrics)
        verdicts[q.reason or "gradable"] += 1
    return {k: np.array([r[k] for r in rows], dtype=float) for k in KEYS}, verdicts


def build_sets(data: Path, n: int) -> dict[str, list[bytes]]:
    """Image bytes of every calibration set."""
    natural = [Image.open(p).convert("RGB") for p in _sample(data / "eyepacs-natural", n)]
    sets = {
        "eyepacs-natural": [S.to_jpeg(im) for im in natural],
        "eyepacs256": [p.read_bytes() for p in _sample(data / "eyepacs256", n)],
    }
    for name, fn in DEGRADATIONS.items():
        sets[name] = [S.to_jpeg(fn(im)) for im in natural[: max(20, n // 3)]]
    sets["synthetic_document"] = [S.to_jpeg(S.document_page(seed=i)) for i in range(10)]
    sets["synthetic_face"] = [S.to_jpeg(S.face_like(seed=i)) for i in range(5)] + [
        S.to_jpeg(S.face_like(background=(15, 15, 15), seed=i)) for i in range(5)
    ]
    return sets


def main(argv: list[str] | None = None) -> None:
    """Print percentiles (5/50/95) of each measurement and the verdict counts per set."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--n", type=int, default=120)
    args = ap.parse_args(argv)
    for name, images in build_sets(data_root(args.data_dir), args.n).items():
        vals, verdicts = _measure_set(images)
        print(f"\n## {name} (n={len(images)}) verdicts: {dict(verdicts)}")
        for k in KEYS:
            p = np.percentile(vals[k], [1, 5, 50, 95, 99])
            print(
                f"  {k:20s} p1 {p[0]:8.3f}  p5 {p[1]:8.3f}  p50 {p[2]:8.3f}  "
                f"p95 {p[3]:8.3f}  p99 {p[4]:8.3f}"
            )


if __name__ == "__main__":
    main()

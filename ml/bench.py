"""CPU throughput of the grader: ``python -m ml.bench [--weights DIR] [--update-card]``.

Measures images/second of the model alone (preprocessed input) at batch sizes 1, 8 and 32, and of
the whole ``Grader.grade`` path (decode + preprocess + quality + model) on a sample JPEG, and the
process's peak resident memory (what one grading worker needs). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

from ml import model as M
from ml.grader import Grader
from ml.progress import Progress

SAMPLES = Path(__file__).resolve().parent / "samples"


def _rate(fn, n_images: int, min_seconds: float) -> float:
    fn()  # warm-up (tracing)
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds:
        fn()
        count += n_images
    return count / (time.perf_counter() - t0)


def run_bench(
    grader: Grader, batches: tuple[int, ...] = (1, 8, 32), min_seconds: float = 5.0
) -> dict:
    """Images/second per batch size (model only) and end to end at batch 8."""
    rng = np.random.default_rng(0)
    s = grader.input_size
    out: dict = {
        "model_only_images_per_second": {},
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "input_size": s,
    }
    sample = sorted(SAMPLES.glob("*.jp*g"))
    peaks: dict[str, float] = {"loaded": peak_rss_mb()}
    progress = Progress(len(batches) + 2 * bool(sample), "bench", unit="measurements", every=0)
    for b in batches:
        x = rng.integers(0, 256, (b, s, s, 3)).astype(np.float32)
        out["model_only_images_per_second"][str(b)] = round(
            _rate(lambda x=x: grader.predict_normalized(x), b, min_seconds), 2
        )
        peaks[f"model_only_batch{b}"] = peak_rss_mb()
        progress.update()
    if sample:
        data = [sample[0].read_bytes()] * 8
        out["end_to_end_batch8_images_per_second"] = round(
            _rate(lambda: grader.grade(data), 8, min_seconds), 2
        )
        peaks["end_to_end_batch8"] = peak_rss_mb()
        progress.update()
        out["end_to_end_batch8_explain_images_per_second"] = round(
            _rate(lambda: grader.grade(data, explain=True), 8, min_seconds), 2
        )
        progress.update()
    out["peak_rss_mb"] = peak_rss_mb()
    out["peak_rss_mb_after"] = peaks  # the peak only grows: batches run smallest first
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: list[str] | None = None) -> dict:
    """CLI entry point; prints JSON and optionally stores it in the model card."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--seconds", type=float, default=5.0, help="min seconds per measurement")
    ap.add_argument("--update-card", action="store_true")
    args = ap.parse_args(argv)
    grader = Grader.load(args.weights)
    result = run_bench(grader, min_seconds=args.seconds)
    print(json.dumps(result, indent=1))
    if args.update_card:
        from ml.card import render_markdown

        wdir = args.weights or Path(__file__).resolve().parent / "weights"
        card = M.read_card(wdir)
        card["bench"] = result
        M.write_card(wdir, card)
        (Path(wdir) / "MODEL_CARD.md").write_text(render_markdown(card, wdir))
    return result


if __name__ == "__main__":
    main()

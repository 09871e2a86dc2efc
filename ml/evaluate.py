"""Evaluate a grader on a labelled folder: ``python -m ml.evaluate``.

    python -m ml.evaluate --images DIR [--labels CSV] [--weights WEIGHTS_DIR] --out OUT_DIR \\
        [--ids IDS_FILE] [--limit N]

``DIR`` holds the images (or an ``images/`` sub-folder); ``CSV`` has columns ``image,level``
(default ``DIR/labels.csv``) and optionally ``maculopathy``: then an eye with maculopathy also
counts as referable whatever its grade, and the report adds ``referable_or_maculopathy_auc``
with its sensitivity and specificity (``referable_auc`` stays grade >= 2, comparable across
sets). ``--ids`` restricts to the ids listed one per line (or a
``split.json`` key, e.g. ``ml/weights/split.json:val``). Writes ``OUT_DIR/report.json``,
``OUT_DIR/confusion_matrix.png``, ``OUT_DIR/reliability.png`` (observed share of referable eyes
against the referable probability, ``ml.calibration``) and ``OUT_DIR/predictions.csv``.
Grading metrics are computed on gradable images; ``fraction_ungradable`` reports the rest.
Progress (images done, rate, time left) goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ml import metrics
from ml.calibration import draw_reliability, expected_calibration_error, reliability_table
from ml.data import find_image, images_dir_of, read_labels, read_maculopathy
from ml.grader import Grader
from ml.progress import Progress

REPORT_KEYS = (
    "n_images",
    "n_gradable",
    "fraction_ungradable",
    "ungradable_reasons",
    "quadratic_weighted_kappa",
    "accuracy",
    "per_grade_recall",
    "referable_auc",
    "referable_threshold",
    "sensitivity",
    "specificity",
    "confusion_matrix",
    "images_per_second",
    "model_version",
    "weights_sha256",
)
MACULOPATHY_KEYS = (
    "n_maculopathy",
    "n_maculopathy_below_grade2",
    "referable_or_maculopathy_auc",
    "referable_or_maculopathy_sensitivity",
    "referable_or_maculopathy_specificity",
)


def read_ids(spec: str) -> list[str]:
    """Ids from a text file (one per line) or ``path/split.json:key``."""
    path, _, key = (
        spec.partition(":") if spec.endswith((":train", ":tune", ":val")) else (spec, "", "")
    )
    if key:
        return list(json.loads(Path(path).read_text())[key])
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def _round(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 4)


def maculopathy_report(
    levels: list[int], maculopathy: list[bool], results: list, threshold: float
) -> dict:
    """Referable = grade >= 2 OR maculopathy: AUC, sensitivity and specificity on gradable
    images, and how many eyes the maculopathy flag makes referable below grade 2."""
    ok = [i for i, r in enumerate(results) if r.gradable]
    truth = np.array([levels[i] >= 2 or maculopathy[i] for i in ok], dtype=bool)
    ref_p = np.array([results[i].referable_probability for i in ok])
    sens, spec = metrics.sens_spec(truth, ref_p, threshold) if len(ok) else (None, None)
    return {
        "n_maculopathy": int(sum(maculopathy[i] for i in ok)),
        "n_maculopathy_below_grade2": int(sum(maculopathy[i] and levels[i] < 2 for i in ok)),
        "referable_or_maculopathy_auc": _round(metrics.roc_auc(truth, ref_p)),
        "referable_or_maculopathy_sensitivity": _round(sens),
        "referable_or_maculopathy_specificity": _round(spec),
    }


def compute_report(levels: list[int], results: list, threshold: float) -> dict:
    """Metrics dict from true grades and GradeResults (same order)."""
    ok = [i for i, r in enumerate(results) if r.gradable]
    y = np.array([levels[i] for i in ok], dtype=int)
    reasons: dict[str, int] = {}
    for r in results:
        if not r.gradable:
            reasons[r.quality_reason] = reasons.get(r.quality_reason, 0) + 1
    pred = np.array([results[i].grade for i in ok], dtype=int)
    ref_p = np.array([results[i].referable_probability for i in ok])
    sens, spec = metrics.sens_spec(y >= 2, ref_p, threshold) if len(y) else (None, None)
    cm = metrics.confusion_matrix(y, pred) if len(y) else np.zeros((5, 5), int)
    return {
        "n_images": len(results),
        "n_gradable": len(ok),
        "fraction_ungradable": _round(1 - len(ok) / max(len(results), 1)),
        "ungradable_reasons": reasons,
        "quadratic_weighted_kappa": _round(metrics.quadratic_weighted_kappa(y, pred)),
        "accuracy": _round((pred == y).mean() if len(y) else None),
        "per_grade_recall": [_round(v) for v in metrics.per_grade_recall(y, pred)],
        "referable_auc": _round(metrics.roc_auc(y >= 2, ref_p)),
        "referable_threshold": threshold,
        "sensitivity": _round(sens),
        "specificity": _round(spec),
        "confusion_matrix": cm.tolist(),
        "grade_counts_true": np.bincount(y, minlength=5).tolist(),
    }


def draw_confusion(cm: np.ndarray, path: Path, title: str) -> None:
    """Save a labelled confusion-matrix PNG (rows: true grade, columns: predicted)."""
    cell, pad = 70, 90
    n = cm.shape[0]
    img = Image.new("RGB", (pad + n * cell + 20, pad + n * cell + 40), "white")
    d = ImageDraw.Draw(img)
    d.text((10, 10), title, fill="black")
    d.text((pad + n * cell // 2 - 30, 40), "predicted", fill="black")
    d.text((5, pad + n * cell // 2), "true", fill="black")
    rows = cm.sum(axis=1, keepdims=True).clip(min=1)
    for t in range(n):
        d.text((pad - 20, pad + t * cell + cell // 2 - 5), str(t), fill="black")
        d.text((pad + t * cell + cell // 2 - 3, pad - 20), str(t), fill="black")
        for p in range(n):
            frac = cm[t, p] / rows[t, 0]
            shade = int(255 - 200 * frac)
            box = (pad + p * cell, pad + t * cell, pad + (p + 1) * cell, pad + (t + 1) * cell)
            d.rectangle(box, fill=(shade, shade, 255), outline="grey")
            d.text(
                (box[0] + 8, box[1] + cell // 2 - 6),
                f"{cm[t, p]} ({frac:.0%})",
                fill="black" if frac < 0.6 else "white",
            )
    img.save(path)


def _expected_cut_kappa(levels: list[int], results: list, cut_points: tuple) -> float | None:
    """Kappa had the grade been the expected grade cut at the card's cut points (the rule that
    maximises kappa but can contradict the referable flag), for comparison with the shipped rule."""
    pairs = [(y, r.probabilities) for y, r in zip(levels, results, strict=True) if r.gradable]
    if not pairs:
        return None
    probs = np.array([p for _, p in pairs])
    grades = metrics.grades_from_expectation(metrics.expected_grade(probs), cut_points)
    return _round(metrics.quadratic_weighted_kappa(np.array([y for y, _ in pairs]), grades))


def evaluate(
    images_dir: Path,
    labels: dict[str, int],
    out: Path,
    grader: Grader,
    batch_size: int = 16,
    title: str = "",
    maculopathy: dict[str, bool] | None = None,
) -> dict:
    """Grade every labelled image found in ``images_dir``; write report, PNG and predictions.

    With ``maculopathy`` ({image_id: flag}), the report adds the referable-or-maculopathy
    figures (:func:`maculopathy_report`).
    """
    out.mkdir(parents=True, exist_ok=True)
    ids = [i for i in sorted(labels) if find_image(images_dir, i) is not None]
    results, t0 = [], time.perf_counter()
    progress = Progress(len(ids), "evaluate")
    for s in range(0, len(ids), batch_size):
        chunk = [find_image(images_dir, i).read_bytes() for i in ids[s : s + batch_size]]
        results.extend(grader.grade(chunk, explain=False, batch_size=batch_size))
        progress.update(len(chunk))
    progress.close()
    seconds = time.perf_counter() - t0
    report = compute_report([labels[i] for i in ids], results, grader.referable_threshold)
    if maculopathy is not None:
        report.update(
            maculopathy_report(
                [labels[i] for i in ids],
                [maculopathy.get(i, False) for i in ids],
                results,
                grader.referable_threshold,
            )
        )
    report.update(
        {
            "grade_rule": grader.grade_rule,
            "quadratic_weighted_kappa_expected_cut": _expected_cut_kappa(
                [labels[i] for i in ids], results, grader.cut_points
            ),
            "images_per_second": _round(len(ids) / max(seconds, 1e-9)),
            "seconds": round(seconds, 1),
            "images_dir": str(images_dir),
            "n_labels_missing_image": len(labels) - len(ids),
            "model_version": grader.model_version,
            "weights_sha256": grader.weights_sha256,
        }
    )
    ok = [n for n, r in enumerate(results) if r.gradable]
    ref_p = np.array([results[n].referable_probability for n in ok])
    truth = np.array([labels[ids[n]] >= 2 for n in ok], dtype=bool)
    report["referable_reliability"] = reliability_table(ref_p, truth)
    report["referable_ece"] = expected_calibration_error(ref_p, truth) if ok else None
    draw_reliability(
        report["referable_reliability"],
        out / "reliability.png",
        f"referable probability, {title or images_dir}",
    )
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    draw_confusion(
        np.array(report["confusion_matrix"]),
        out / "confusion_matrix.png",
        title or f"{images_dir} ({grader.model_version})",
    )
    with open(out / "predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "image",
                "level",
                "gradable",
                "quality_reason",
                "grade",
                "referable_probability",
                "referable",
                *(["maculopathy"] if maculopathy is not None else []),
            ]
        )
        for i, r in zip(ids, results, strict=True):
            w.writerow(
                [
                    i,
                    labels[i],
                    r.gradable,
                    r.quality_reason,
                    r.grade,
                    round(r.referable_probability, 5),
                    r.referable,
                    *([int(maculopathy.get(i, False))] if maculopathy is not None else []),
                ]
            )
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of ``python -m ml.evaluate``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--labels", type=Path, default=None)
    ap.add_argument("--weights", type=Path, default=None, help="weights dir (default shipped)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--ids", default=None, help="ids file or split.json:KEY")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the evaluation CLI and print the headline numbers."""
    args = parse_args(argv)
    images = images_dir_of(args.images)
    labels_csv = args.labels or args.images / "labels.csv"
    labels = read_labels(labels_csv)
    maculopathy = read_maculopathy(labels_csv)
    if args.ids:
        keep = set(read_ids(args.ids))
        labels = {k: v for k, v in labels.items() if k in keep}
    if args.limit:
        labels = dict(sorted(labels.items())[: args.limit])
    grader = Grader.load(args.weights)
    report = evaluate(images, labels, args.out, grader, args.batch_size, maculopathy=maculopathy)
    keys = [k for k in (*REPORT_KEYS, *MACULOPATHY_KEYS) if k in report and k != "confusion_matrix"]
    print(json.dumps({k: report[k] for k in keys}, indent=1))
    return report


if __name__ == "__main__":
    main()

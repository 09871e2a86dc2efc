"""How often does the quality gate refuse real, labelled fundus photographs, and why?

    python -m ml.quality_report [--data-dir DIR] [--sets eyepacs256,eyepacs-natural,srahim-1024]
        [--out report.json] [--limit N]

Runs only decoding, preprocessing and the quality gate (no model) on every image of each labelled
set and prints, per set, the share refused, the count per reason, and for each refused image the
thresholds it failed (``ml.quality.failed_checks``). Every image of these sets is a real fundus
photograph that an ophthalmologist or EyePACS grader graded, so a refusal is at best a
questionable one and a ``not_fundus`` refusal is a defect.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from ml.data import LABELLED_SETS, data_root, find_image, images_dir_of, read_labels
from ml.errors import ImageDecodeError
from ml.preprocess import preprocess_bytes
from ml.progress import Progress
from ml.quality import assess, failed_checks


def gate_folder(folder: Path, limit: int = 0, label: str = "") -> dict:
    """Quality-gate every labelled image of ``folder``; counts per reason and the refusals."""
    labels = read_labels(folder / "labels.csv")
    ids = sorted(labels)[:limit] if limit else sorted(labels)
    images = images_dir_of(folder)
    reasons: Counter = Counter()
    refused = []
    progress = Progress(len(ids), label or folder.name)
    for image_id in ids:
        path = find_image(images, image_id)
        if path is None:
            reasons["missing_file"] += 1
        else:
            try:
                q = assess(preprocess_bytes(path.read_bytes()))
                reason, checks, m = q.reason, failed_checks(q.metrics), q.metrics
            except ImageDecodeError:
                reason, checks, m = "undecodable", [], {}
            if reason:
                reasons[reason] += 1
                refused.append(
                    {
                        "image": image_id,
                        "grade": labels[image_id],
                        "reason": reason,
                        "failed_checks": checks,
                        "metrics": m,
                    }
                )
        progress.update()
    progress.close()
    n = len(ids) - reasons.get("missing_file", 0)
    n_refused = sum(v for k, v in reasons.items() if k != "missing_file")
    return {
        "n_images": n,
        "n_refused": n_refused,
        "fraction_refused": round(n_refused / max(n, 1), 4),
        "reasons": dict(sorted(reasons.items())),
        "failed_checks": dict(Counter(c for r in refused for c in r["failed_checks"])),
        "refused": refused,
    }


def summary_table(report: dict) -> str:
    """Markdown table of a report: set, images, refused share, reasons."""
    lines = ["| set | images | refused | share | reasons |", "|---|---|---|---|---|"]
    for name, r in report.items():
        reasons = ", ".join(f"{k} {v}" for k, v in r["reasons"].items()) or "-"
        lines.append(
            f"| {name} | {r['n_images']} | {r['n_refused']} | "
            f"{100 * r['fraction_refused']:.2f} % | {reasons} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    """Gate every set, print the summary table (stdout) and write the full report if asked."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None, help="default: $DR_DATA_DIR")
    ap.add_argument("--sets", default=",".join(LABELLED_SETS))
    ap.add_argument("--out", type=Path, default=None, help="JSON report with every refusal")
    ap.add_argument("--limit", type=int, default=0, help="first N images of each set")
    args = ap.parse_args(argv)
    root = data_root(args.data_dir)
    report = {
        name: gate_folder(root / name, args.limit)
        for name in args.sets.split(",")
        if (root / name / "labels.csv").exists()
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(summary_table(report))
    return report


if __name__ == "__main__":
    main()

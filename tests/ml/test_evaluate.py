"""Evaluation CLI end to end on a small temporary folder."""

from __future__ import annotations

import json
import shutil

from ml.evaluate import REPORT_KEYS, main
from ml.grader import _CACHE


def test_evaluate_cli(tmp_path, tiny_grader, samples_dir):
    wdir = next(k[0] for k, v in _CACHE.items() if v is tiny_grader)
    folder = tmp_path / "set"
    (folder / "images").mkdir(parents=True)
    rows = ["image,level"]
    for p in sorted(samples_dir.glob("natural_*.jpg")):
        shutil.copy(p, folder / "images" / f"{p.stem}.jpeg")
        rows.append(f"{p.stem},{p.stem[-1]}")
    (folder / "images" / "broken.jpeg").write_bytes(b"not a jpeg")
    rows.append("broken,0")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    main(["--images", str(folder), "--weights", wdir, "--out", str(out)])
    report = json.loads((out / "report.json").read_text())
    assert set(REPORT_KEYS) <= set(report)
    assert report["n_images"] == 6 and report["n_gradable"] == 5
    assert report["ungradable_reasons"] == {"undecodable": 1}
    assert abs(report["fraction_ungradable"] - 1 / 6) < 1e-3
    assert len(report["per_grade_recall"]) == 5 and report["images_per_second"] > 0
    assert (out / "confusion_matrix.png").stat().st_size > 0
    assert (out / "predictions.csv").read_text().count("\n") == 7
    ids = tmp_path / "ids.txt"
    ids.write_text("natural_177_left_grade0\nnatural_217_left_grade4\n")
    main(
        [
            "--images",
            str(folder / "images"),
            "--labels",
            str(folder / "labels.csv"),
            "--weights",
            wdir,
            "--out",
            str(out / "sub"),
            "--ids",
            str(ids),
        ]
    )
    assert json.loads((out / "sub" / "report.json").read_text())["n_images"] == 2

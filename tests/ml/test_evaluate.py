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
    assert (out / "reliability.png").stat().st_size > 0
    assert sum(b["n"] for b in report["referable_reliability"]) == 5
    assert 0 <= report["referable_ece"] <= 1
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


def _labelled_folder(tmp_path, samples_dir, maculopathy: dict | None):
    folder = tmp_path / "set"
    (folder / "images").mkdir(parents=True)
    header = "image,level" + (",maculopathy" if maculopathy is not None else "")
    rows = [header]
    for p in sorted(samples_dir.glob("natural_*.jpg")):
        shutil.copy(p, folder / "images" / f"{p.stem}.jpeg")
        flag = f",{maculopathy.get(p.stem, 0)}" if maculopathy is not None else ""
        rows.append(f"{p.stem},{p.stem[-1]}{flag}")
    shutil.copy(samples_dir / "natural_177_left_grade0.jpg", folder / "images" / "copy_right.jpeg")
    rows.append("copy_right,1" + (",0" if maculopathy is not None else ""))  # a negative
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_evaluate_counts_maculopathy_as_referable_when_labelled(tmp_path, tiny_grader, samples_dir):
    """With a maculopathy column, a grade-0 eye with maculopathy is referable in the extra AUC;
    the grade-only AUC is unchanged; without the column the extra figures are absent."""
    import csv

    wdir = next(k[0] for k, v in _CACHE.items() if v is tiny_grader)
    plain = main(
        [
            "--images",
            str(_labelled_folder(tmp_path / "a", samples_dir, None)),
            "--weights",
            wdir,
            "--out",
            str(tmp_path / "out_plain"),
        ]
    )
    assert "referable_or_maculopathy_auc" not in plain
    macula = {"natural_177_left_grade0": 1, "natural_352_left_grade3": 1}
    flagged = main(
        [
            "--images",
            str(_labelled_folder(tmp_path / "b", samples_dir, macula)),
            "--weights",
            wdir,
            "--out",
            str(tmp_path / "out_macula"),
        ]
    )
    assert flagged["referable_auc"] == plain["referable_auc"]
    assert flagged["n_maculopathy"] == 2 and flagged["n_maculopathy_below_grade2"] == 1
    rows = list(csv.DictReader((tmp_path / "out_macula" / "predictions.csv").open()))
    truth = [int(r["level"]) >= 2 or r["maculopathy"] == "1" for r in rows]
    score = [float(r["referable_probability"]) for r in rows]
    from ml.metrics import roc_auc

    assert truth.count(True) == 5 and len(truth) == 6  # the grade-0 eye with maculopathy counts
    assert flagged["referable_or_maculopathy_auc"] == round(roc_auc(truth, score), 4)
    assert "referable_or_maculopathy_sensitivity" in json.loads(
        (tmp_path / "out_macula" / "report.json").read_text()
    )

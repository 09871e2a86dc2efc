"""ml.quality_report: share of labelled photographs the gate refuses, and why."""

from __future__ import annotations

import json
import shutil

from ml.quality_report import main, summary_table
from tests.ml import synthetic as S


def test_quality_report_counts_refusals_per_set_and_reason(tmp_path, samples_dir):
    folder = tmp_path / "data" / "eyepacs256"
    (folder / "images").mkdir(parents=True)
    rows = ["image,level"]
    for p in sorted(samples_dir.glob("*.jpg")):
        shutil.copy(p, folder / "images" / f"{p.stem}.jpeg")
        rows.append(f"{p.stem},{p.stem[-1]}")
    (folder / "images" / "page_left.jpeg").write_bytes(S.to_jpeg(S.document_page()))
    (folder / "images" / "broken_left.jpeg").write_bytes(b"not a jpeg")
    rows += ["page_left,0", "broken_left,0", "missing_left,1"]
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "report.json"
    report = main(["--data-dir", str(tmp_path / "data"), "--out", str(out)])
    r = report["eyepacs256"]
    assert r["n_images"] == 8 and r["n_refused"] == 2  # 6 samples pass; the missing file is
    assert r["reasons"] == {"missing_file": 1, "not_fundus": 1, "undecodable": 1}  # not counted
    assert r["fraction_refused"] == 0.25
    page = next(x for x in r["refused"] if x["image"] == "page_left")
    assert page["reason"] == "not_fundus" and page["failed_checks"]
    assert json.loads(out.read_text())["eyepacs256"]["n_refused"] == 2
    assert "| eyepacs256 | 8 | 2 | 25.00 % |" in summary_table(report)

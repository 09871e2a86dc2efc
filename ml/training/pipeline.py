"""The one training command: ``python -m ml.training [--out ml/weights]``.

Reproduces the shipped model (``ml.training.config.SHIPPED``) from the data:

1. the patient split of the training set (seed, 70 / 15 / 15 % train / tune / val);
2. preprocessing of every image (``ml.preprocess``), cached in the work folder;
3. each member trained by its recipe (``ml.training.members``), resumable per epoch; a finished
   member is skipped on a rerun;
4. each member's predictions as shipped (fp16 weights) on tune and val in 4 dihedral views;
5. ensemble weights and test-time views chosen on tune (``ml.training.ensemble``), optional
   temperature calibration fitted on tune, grade cut points and referable threshold on tune;
6. the weights, ``split.json``, ``natural_eval_ids.txt`` and ``model_card.json`` written into
   ``--out``, then the end-to-end evaluations and ``MODEL_CARD.md`` (``ml.card``).

Options: ``--data-dir`` (default $DR_DATA_DIR, else ../shared/data), ``--work-dir`` (caches and
checkpoints; default a folder in the system temp dir), ``--machine`` (the card's description of
the host; default what the host reports). On a 2-core CPU the shipped recipe takes about 3 h.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from ml import model as M
from ml.calibration import (
    TEMPERATURE,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    reliability_table,
)
from ml.data import data_root, find_image, images_dir_of, patient_of, read_labels
from ml.training import card as C
from ml.training.config import SHIPPED, PipelineConfig
from ml.training.ensemble import choose, combine, member_probs
from ml.training.images import preprocess_all
from ml.training.members import WEIGHTS, train_member
from ml.training.selection import choose_operating_points, summarise
from ml.training.splits import patient_split

DEFAULT_WORK = Path(tempfile.gettempdir()) / "dr_ml_training"


def load_split(cfg: PipelineConfig, root: Path) -> tuple[dict, dict]:
    """Labels of the training set and {split: sorted ids}."""
    labels = read_labels(root / cfg.train_set / "labels.csv")
    if cfg.limit:
        labels = dict(sorted(labels.items())[: cfg.limit])
    split = patient_split(labels, seed=cfg.split_seed, fractions=cfg.split_fractions)
    ids = {k: sorted(i for i, s in split.items() if s == k) for k in ("train", "tune", "val")}
    return labels, ids


def _member_file(n: int, name: str) -> str:
    return M.WEIGHTS_FILE if n == 0 else f"model_{name}.weights.npz"


def _ship_weights(out: Path, shipped: list[tuple], work: Path, cfg: PipelineConfig) -> list:
    """Copy the shipped members into ``out`` (old weight files removed); the card's list."""
    staged = []
    for n, (name, w) in enumerate(shipped):
        target = _member_file(n, name)
        shutil.copyfile(work / "members" / name / WEIGHTS, out / (target + ".new"))
        staged.append((name, w, target))
    for f in out.glob("*.weights.npz"):
        f.unlink()
    specs = {m.name: m for m in cfg.members}
    ensemble = []
    for name, w, target in staged:
        (out / (target + ".new")).rename(out / target)
        entry = {"member": name, "weights_file": target, "weight": w}
        entry["sha256"] = M.sha256_file(out / target)
        if specs[name].upsample:
            entry["upsample"] = specs[name].upsample
        ensemble.append(entry)
    return ensemble


def _natural_ids(root: Path, cfg: PipelineConfig, seen_ids: list[str]) -> list[str] | None:
    labels_csv = root / cfg.natural_set / "labels.csv"
    if not labels_csv.exists():
        return None
    seen = {patient_of(i) for i in seen_ids}
    return sorted(i for i in read_labels(labels_csv) if patient_of(i) not in seen)


def _calibrate(cfg: PipelineConfig, p: dict, y: dict) -> tuple[dict, dict | None, dict]:
    """Fit the configured calibration on tune; (probabilities, card entry, reliability)."""
    reliability = {}
    calibration = None
    if cfg.calibration == TEMPERATURE:
        t = fit_temperature(p["tune"], y["tune"])
        calibration = {"method": TEMPERATURE, "temperature": t, "fitted_on": "tune split"}
        p = {k: apply_temperature(v, t) for k, v in p.items()}
    for k in ("tune", "val"):
        ref_p, truth = p[k][:, 2:].sum(1), y[k] >= 2
        reliability[k] = {
            "ece": expected_calibration_error(ref_p, truth),
            "table": reliability_table(ref_p, truth),
        }
    note = (
        f"Temperature scaling (T = {calibration['temperature']}) fitted on tune."
        if calibration
        else "No calibration is applied; the tables show how far the raw probabilities are."
    )
    return p, calibration, {"note": note, "sets": reliability}


def run(
    cfg: PipelineConfig,
    out: Path,
    data_dir: Path | None = None,
    work_dir: Path = DEFAULT_WORK,
    machine: str | None = None,
    command: str = "python -m ml.training --out ml/weights",
    evaluate: bool = True,
) -> dict:
    """Train (or resume) every member, choose the ensemble, write weights and card into ``out``."""
    root, out, work = data_root(data_dir), Path(out), Path(work_dir)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    machine = C.describe_machine(machine)
    labels, ids = load_split(cfg, root)
    all_ids = sorted(labels)
    folder = images_dir_of(root / cfg.train_set)
    pre = preprocess_all(
        [find_image(folder, i) for i in all_ids],
        cfg.input_size,
        work / f"pre_{cfg.train_set}_{cfg.input_size}_{len(all_ids)}.npy",
    )
    pos = {i: n for n, i in enumerate(all_ids)}
    images = {k: pre[[pos[i] for i in v]] for k, v in ids.items()}
    del pre
    y = {k: np.array([labels[i] for i in v]) for k, v in ids.items()}
    members = {
        spec.name: train_member(spec, cfg, images, y, work / "members" / spec.name, machine)
        for spec in cfg.members
    }
    names = [m.name for m in cfg.members]
    probs = {
        m.name: member_probs(
            work / "members" / m.name / WEIGHTS,
            cfg.input_size,
            cfg.width,
            m.upsample,
            {k: images[k] for k in ("tune", "val")},
            work / "members" / m.name / "predictions.npz",
            cfg.graph,
        )
        for m in cfg.members
    }
    weights, n_views, grid = choose(
        names, probs, y["tune"], cfg.view_sets, cfg.grid_step, cfg.referable_sensitivity
    )
    shipped = sorted(
        ((n, w) for n, w in zip(names, weights, strict=True) if w > 0), key=lambda nw: -nw[1]
    )
    p = {
        k: combine([n for n, _ in shipped], probs, k, [w for _, w in shipped], n_views)
        for k in ("tune", "val")
    }
    p, calibration, reliability = _calibrate(cfg, p, y)
    cuts, thr = choose_operating_points(y["tune"], p["tune"], cfg.referable_sensitivity)
    previous = M.read_card(out) if (out / M.CARD_FILE).exists() else {}
    ensemble = _ship_weights(out, shipped, work, cfg)
    (out / "split.json").write_text(
        json.dumps({"seed": cfg.split_seed, "by_patient": True, **ids}, indent=0) + "\n"
    )
    natural = _natural_ids(root, cfg, ids["train"] + ids["tune"])
    if natural is not None:
        (out / "natural_eval_ids.txt").write_text("\n".join(natural) + "\n")
    card = C.build_card(
        cfg,
        ensemble,
        members,
        n_views,
        cuts,
        thr,
        calibration,
        {k: summarise(y[k], p[k], cuts, thr) for k in ("tune", "val")},
        C.ensemble_text(names, grid, weights, n_views, cfg.grid_step),
        {k: len(v) for k, v in ids.items()},
        command,
        previous,
    )
    card["reliability"] = reliability
    M.write_card(out, card)
    from ml.card import evaluate_into_card, render_markdown

    if evaluate:
        card = evaluate_into_card(out, root)
    card["known_issues"] = C.known_issues(card)
    M.write_card(out, card)
    (out / "MODEL_CARD.md").write_text(render_markdown(card, out))
    return card


def main(argv: list[str] | None = None) -> dict:
    """Command line of ``python -m ml.training``."""
    ap = argparse.ArgumentParser(description="train the shipped DR grader from the data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "weights")
    ap.add_argument("--data-dir", type=Path, default=None, help="default: $DR_DATA_DIR")
    ap.add_argument("--work-dir", type=Path, default=DEFAULT_WORK, help="caches, checkpoints")
    ap.add_argument("--machine", default=None, help="host description for the card")
    ap.add_argument(
        "--limit", type=int, default=0, help="first N images only (smoke run; needs torch too)"
    )
    args = ap.parse_args(argv)
    cfg = dataclasses.replace(SHIPPED, limit=args.limit)
    card = run(cfg, args.out, args.data_dir, args.work_dir, args.machine)
    print(json.dumps({k: v.get("referable_auc") for k, v in card.get("evaluation", {}).items()}))
    print(f"model card: {args.out / 'MODEL_CARD.md'}", file=sys.stderr)
    return card

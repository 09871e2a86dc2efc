"""How hard is the shipped val split? One cheap method on the official split and on 5 patient folds.

``python -m ml.split_check [--data DIR]`` fits approach A (frozen ImageNet EfficientNet-Lite0,
global average pooling, class-weighted multinomial logistic regression) on the official train
split and scores tune and val, then repeats it with 5-fold cross-validation by patient over all
images. If val scores well below the folds' spread, the split is a hard draw for that method and the
val numbers of the shipped grader are likely pessimistic too; the bar is still measured on the
official val split (changing the split after seeing results would be choosing the test set).
About 3 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

import numpy as np

from ml import metrics
from ml.data import find_image, patient_of, patient_split, read_labels

FOLDS = 5


def gap_features(images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Frozen ImageNet EfficientNet-Lite0 + global average pooling -> (N, 1280)."""
    import keras

    from ml.efficientnet_lite import load_torch_lite0_weights, read_torch_lite0_state_dict
    from ml.model import build_full_model

    model = build_full_model()
    load_torch_lite0_weights(model, read_torch_lite0_state_dict())
    gap = keras.Model(model.input, model.get_layer("gap").output)
    return np.concatenate(
        [
            gap(np.asarray(images[s : s + batch], np.float32), training=False).numpy()
            for s in range(0, len(images), batch)
        ]
    )


def logreg_auc(feats: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Referable AUC on ``test`` of a class-weighted softmax regression fitted on ``train``."""
    import keras

    from ml.train import class_weights

    mu, sd = feats[train].mean(0), feats[train].std(0) + 1e-6
    keras.utils.set_random_seed(0)
    clf = keras.Sequential(
        [
            keras.Input((feats.shape[1],)),
            keras.layers.Dense(
                5, activation="softmax", kernel_regularizer=keras.regularizers.l2(1e-3)
            ),
        ]
    )
    clf.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    clf.fit(
        (feats[train] - mu) / sd,
        y[train],
        sample_weight=class_weights(y[train])[y[train]],
        epochs=60,
        batch_size=64,
        verbose=0,
    )
    probs = clf.predict((feats[test] - mu) / sd, verbose=0)
    return round(metrics.roc_auc(y[test] >= 2, probs[:, 2:].sum(1)), 4)


def patient_folds(ids: list[str], k: int = FOLDS, seed: int = 7) -> np.ndarray:
    """Fold number of every image; both eyes of a patient share a fold."""
    patients = sorted({patient_of(i) for i in ids})
    random.Random(seed).shuffle(patients)
    fold = {p: n % k for n, p in enumerate(patients)}
    return np.array([fold[patient_of(i)] for i in ids])


def main(argv: list[str] | None = None) -> dict:
    """Print and return the official-split and cross-validated AUCs of approach A."""
    from ml.train import DEFAULT_DATA, preprocess_all

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "eyepacs256")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "dr_ml_cache")
    ap.add_argument("--seed", type=int, default=2026, help="split seed of the shipped model")
    args = ap.parse_args(argv)
    labels = read_labels(args.data / "labels.csv")
    ids = sorted(labels)
    y = np.array([labels[i] for i in ids])
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    pre = preprocess_all(
        [find_image(args.data / "images", i) for i in ids], args.cache_dir / "pre_full.npy"
    )
    feats = gap_features(pre)
    del pre
    split = patient_split(labels, seed=args.seed)
    where = {k: np.array([n for n, i in enumerate(ids) if split[i] == k]) for k in split.values()}
    official = {k: logreg_auc(feats, y, where["train"], where[k]) for k in ("tune", "val")}
    fold = patient_folds(ids)
    folds = [
        logreg_auc(feats, y, np.where(fold != k)[0], np.where(fold == k)[0]) for k in range(FOLDS)
    ]
    result = {
        "method": "approach A: frozen ImageNet EfficientNet-Lite0 + GAP + logistic regression",
        "official_split_referable_auc": official,
        "patient_5fold_referable_auc": folds,
        "patient_5fold_mean": round(float(np.mean(folds)), 4),
        "patient_5fold_sd": round(float(np.std(folds)), 4),
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()

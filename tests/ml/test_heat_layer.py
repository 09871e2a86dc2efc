"""The heatmap is a layer at the photograph's aspect ratio, registered on it (issue 13, part 1):
no square crop, no shift when it is laid over the photograph."""

import io

import numpy as np
from PIL import Image, ImageDraw

from ml.explain import heat_layer_png
from ml.preprocess import preprocess_bytes


def wide_fundus(width: int = 600, height: int = 400) -> bytes:
    """A wide photograph: black border, an orange disc off centre (as cameras often frame it)."""
    img = Image.new("RGB", (width, height), (0, 0, 0))
    ImageDraw.Draw(img).ellipse((180, 20, 540, 380), fill=(200, 90, 40))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_the_layer_has_the_photographs_size_and_a_hot_spot_lands_where_it_was_seen():
    pre = preprocess_bytes(wide_fundus(), size=64)
    assert pre.work_size == (600, 400) and pre.disc_box == (180, 20, 541, 381)
    cam = np.zeros((8, 8), np.float32)
    cam[1, 6] = 1.0  # upper right of the square crop around the disc
    layer = Image.open(io.BytesIO(heat_layer_png(pre, cam)))
    assert layer.mode == "RGBA" and layer.size == (600, 400)
    alpha = np.asarray(layer)[..., 3].astype(float)
    y, x = np.unravel_index(np.argmax(alpha), alpha.shape)
    # the crop is the 361 px square at (180, 20); cell (row 1, col 6) of 8 is centred at
    # (180 + 6.5 / 8 * 361, 20 + 1.5 / 8 * 361) = (473, 88) in the photograph
    assert abs(x - 473) <= 25 and abs(y - 88) <= 25
    # nothing outside the fundus disc, nothing in the black border left of it
    assert alpha[:, :170].max() == 0 and alpha[200, 560:].max() == 0


def test_a_layer_on_a_tall_photograph_keeps_its_aspect_ratio():
    pre = preprocess_bytes(wide_fundus(300, 500), size=64)
    layer = Image.open(io.BytesIO(heat_layer_png(pre, np.ones((4, 4), np.float32))))
    assert layer.size == pre.work_size and layer.width < layer.height

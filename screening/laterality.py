"""Which eye does a fundus photograph look like? A check on the eye a nurse declares.

Plain numpy and Pillow (no TensorFlow in the web process): find the optic disc, the brightest
round region of the fundus, and see on which side of the fundus centre it lies. In the
photographs fundus cameras deliver (anatomical view, as if looking at the patient), the disc of a
RIGHT eye lies on the viewer's RIGHT of the macula and the disc of a LEFT eye on the viewer's
LEFT. This was measured on the labelled photographs, not assumed: `python -m bench.laterality`
(the numbers are in the README). Some EyePACS photographs were taken through an inverting lens
(the Kaggle 2015 data says so) and read the other way round: a warning asks the nurse to look, it
never changes the eye by itself.

The answer is "unsure" when no region stands out clearly enough to be the disc, or when the
disc sits near the vertical midline (a disc-centred photograph): a guess would only train nurses
to click warnings away.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

Looks = Literal["right", "left", "unsure"]

WORK_WIDTH = 320  # pixels across the working copy; the disc is still ~40 px wide
FUNDUS_LEVEL = 20.0  # red channel above this is fundus, below is the black frame
RIM = 0.88  # ignore the outer rim (reflections, vignetting) beyond this fraction of the radius
DISC_SIGMA = 0.06  # smoothing at the disc's scale, as a fraction of the fundus radius
BACKGROUND_SIGMA = 0.30  # the illumination the disc stands out from
MIN_PROMINENCE = 3.5  # disc peak over the fundus median, in robust standard deviations
MIN_LEAD = 1.25  # the disc peak over the best candidate elsewhere
MIN_OFFSET = 0.15  # disc centre this far from the midline (fraction of the radius), or unsure


@dataclass(frozen=True)
class LateralityFinding:
    """Where the disc was found and which eye that suggests."""

    looks_like: Looks
    disc_x: float  # disc centre relative to the fundus centre, in fundus radii (+ = viewer's right)
    disc_y: float
    prominence: float
    lead: float
    reason: str

    def contradicts(self, declared_eye: str) -> bool:
        """True when the photograph clearly looks like the other eye than `declared_eye`."""
        return self.looks_like != "unsure" and self.looks_like != declared_eye

    @property
    def label(self) -> str:
        if self.looks_like == "unsure":
            return f"Eye not clear from the photograph ({self.reason})."
        side = "left" if self.disc_x < 0 else "right"
        return f"Looks like a {self.looks_like} eye (optic disc on the viewer's {side})."


def check_laterality(data: bytes) -> LateralityFinding:
    """Find the optic disc in an encoded photograph and say which eye it looks like."""
    with Image.open(io.BytesIO(data)) as source:
        picture = ImageOps.exif_transpose(source).convert("RGB")
    return laterality_of(picture)


def laterality_of(picture: Image.Image) -> LateralityFinding:
    """As check_laterality, for a decoded picture."""
    small = picture.convert("RGB")
    small.thumbnail((WORK_WIDTH, WORK_WIDTH * 2), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.float32)
    fundus = rgb[..., 0] > FUNDUS_LEVEL
    if fundus.sum() < 0.1 * fundus.size:
        return _unsure("no fundus found")
    cx, cy, radius = _fundus_circle(fundus)
    ys, xs = np.indices(fundus.shape, dtype=np.float32)
    inside = fundus & (np.hypot(xs - cx, ys - cy) < RIM * radius)
    # The disc is bright in green and red; green keeps more contrast where red saturates.
    signal = 0.6 * rgb[..., 1] + 0.4 * rgb[..., 0]
    local = _masked_blur(signal, inside, DISC_SIGMA * radius)
    background = _masked_blur(signal, inside, BACKGROUND_SIGMA * radius)
    contrast = np.where(inside, local / np.maximum(background, 1.0), 0.0)
    values = contrast[inside]
    median = float(np.median(values))
    spread = float(np.median(np.abs(values - median))) * 1.4826 + 1e-6
    peak_index = np.unravel_index(int(np.argmax(contrast)), contrast.shape)
    py, px = float(peak_index[0]), float(peak_index[1])
    prominence = (float(contrast[peak_index]) - median) / spread
    far = inside & (np.hypot(xs - px, ys - py) > 0.35 * radius)
    runner_up = (float(contrast[far].max()) - median) / spread if far.any() else 0.0
    lead = prominence / max(runner_up, 1e-6)
    dx, dy = (px - cx) / radius, (py - cy) / radius
    return _decide(dx, dy, prominence, lead)


def _decide(dx: float, dy: float, prominence: float, lead: float) -> LateralityFinding:
    if prominence < MIN_PROMINENCE:
        reason = "no region stands out as the optic disc"
    elif lead < MIN_LEAD:
        reason = "more than one region could be the optic disc"
    elif abs(dx) < MIN_OFFSET:
        reason = "the optic disc is near the centre, as in a disc-centred photograph"
    else:
        looks: Looks = "right" if dx > 0 else "left"
        return LateralityFinding(looks, dx, dy, prominence, lead, "")
    return LateralityFinding("unsure", dx, dy, prominence, lead, reason)


def _unsure(reason: str) -> LateralityFinding:
    return LateralityFinding("unsure", 0.0, 0.0, 0.0, 0.0, reason)


def _fundus_circle(fundus: np.ndarray) -> tuple[float, float, float]:
    """Centre and radius of the fundus disc; EyePACS circles are often clipped top and bottom,
    so the radius comes from the width and the centre row from the middle of the fundus rows."""
    columns = np.flatnonzero(fundus.mean(axis=0) > 0.02)
    rows = np.flatnonzero(fundus.mean(axis=1) > 0.02)
    radius = max((columns[-1] - columns[0] + 1) / 2.0, 1.0)
    return (columns[0] + columns[-1]) / 2.0, (rows[0] + rows[-1]) / 2.0, float(radius)


def _masked_blur(values: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-like blur (three box passes) of `values` over `mask` only, normalised by the
    blurred mask so the black frame does not darken the rim."""
    weight = mask.astype(np.float32)
    blurred = _box3(values * weight, sigma)
    return blurred / np.maximum(_box3(weight, sigma), 1e-3)


def _box3(values: np.ndarray, sigma: float) -> np.ndarray:
    # Three box filters of width w approximate a Gaussian with sigma^2 = 3 (w^2 - 1) / 12.
    half = max(int(np.round((np.sqrt(4.0 * sigma * sigma + 1.0) - 1.0) / 2.0)), 1)
    out = values
    for _ in range(3):
        out = _box(_box(out, half, axis=0), half, axis=1)
    return out


def _box(values: np.ndarray, half: int, axis: int) -> np.ndarray:
    padded = np.pad(values, [(half + 1, half) if a == axis else (0, 0) for a in range(2)], "edge")
    total = np.cumsum(padded, axis=axis, dtype=np.float64)
    width = 2 * half + 1
    upper = np.take(total, np.arange(width, total.shape[axis]), axis=axis)
    lower = np.take(total, np.arange(0, total.shape[axis] - width), axis=axis)
    return ((upper - lower) / width).astype(np.float32)


# --- what the file name says ----------------------------------------------------------------
# Cameras and exports name files "10_left.jpeg", "Patient001_L.jpg", "IMG_0042_OD.jpg" or
# "right eye disc.tif"; the batch form starts from what the name says, and the nurse checks it.
_RIGHT = {"right", "r", "od", "re", "righteye"}
_LEFT = {"left", "l", "os", "le", "lefteye"}
_DISC = {"disc", "disk", "onh", "papilla", "discentred", "disccentred"}
_MACULA = {"macula", "macular", "fovea", "mac", "maculacentred"}


def _name_tokens(name: str) -> set[str]:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return {token for token in re.split(r"[^a-z0-9]+", stem.lower()) if token}


def eye_in_filename(name: str) -> str:
    """ "right", "left" or "" when the name names no eye (or both)."""
    tokens = _name_tokens(name)
    right, left = bool(tokens & _RIGHT), bool(tokens & _LEFT)
    return "right" if right and not left else "left" if left and not right else ""


def field_in_filename(name: str) -> str:
    """ "disc", "macula" or "" when the name names no field (or both)."""
    tokens = _name_tokens(name)
    disc, macula = bool(tokens & _DISC), bool(tokens & _MACULA)
    return "disc" if disc and not macula else "macula" if macula and not disc else ""

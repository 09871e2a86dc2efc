"""Deterministic fundus preprocessing shared by training and serving.

Pipeline: decode (EXIF orientation) -> find the fundus disc and crop the black border into a
square centred on the disc -> resize -> local colour/illumination normalisation (Ben Graham style:
subtract a Gaussian-blurred local average, then per-channel contrast normalisation inside the
disc) -> clip to a circle. Natural-colour photographs and the contrast-equalised training images
land in the same domain because both the illumination (local mean) and per-channel contrast are
removed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from ml.errors import ImageDecodeError

DEFAULT_SIZE = 256
WORK_MAX_SIDE = 640  # large photos are reduced to this before any processing (speed)
DISC_THRESHOLD = 18.0  # grey level separating the fundus from the camera's black border
BLUR_SIGMA_FRACTION = 1.0 / 30.0  # Gaussian sigma of the local average, as fraction of the size
CIRCLE_FRACTION = 0.92  # radius of the kept circle, as fraction of the half-size
TARGET_STD = 42.0  # output grey-level standard deviation per channel inside the circle
NEUTRAL = 128


@dataclass
class Preprocessed:
    """Result of :func:`preprocess`.

    ``normalized``: uint8 (size, size, 3), model input domain (0..255, neutral grey outside the
    circle). ``cropped``: uint8 (size, size, 3) natural colours of the square crop around the disc
    (used for quality checks and heatmap overlays). ``disc_box``: (left, top, right, bottom) of the
    detected disc in the working image; ``work_size``: (width, height) of that working image.
    """

    normalized: np.ndarray
    cropped: np.ndarray
    disc_box: tuple[int, int, int, int]
    work_size: tuple[int, int]
    disc_found: bool
    corner_brightness: float = 0.0


def decode_image(data: bytes) -> Image.Image:
    """Decode JPEG/PNG bytes into an RGB PIL image with EXIF orientation applied.

    Raises :class:`ml.errors.ImageDecodeError` when the bytes are not a readable image.
    """
    try:
        img: Image.Image = Image.open(io.BytesIO(data))
        img.load()
        img = ImageOps.exif_transpose(img)
        return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"cannot decode image: {exc}") from exc


def _to_work_size(img: Image.Image) -> Image.Image:
    scale = WORK_MAX_SIDE / max(img.size)
    if scale < 1.0:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.BILINEAR)
    return img


def corner_brightness(rgb: np.ndarray, fraction: float = 0.08) -> float:
    """Mean grey level of the four corner patches of an image."""
    h, w = rgb.shape[:2]
    ch, cw = max(1, int(h * fraction)), max(1, int(w * fraction))
    grey = rgb.astype(np.float32).mean(axis=2)
    patches = [grey[:ch, :cw], grey[:ch, -cw:], grey[-ch:, :cw], grey[-ch:, -cw:]]
    return float(np.mean([p.mean() for p in patches]))


def find_disc(rgb: np.ndarray) -> tuple[tuple[int, int, int, int], bool]:
    """Return the bounding box (l, t, r, b) of the bright fundus disc and whether one was found.

    Rows/columns count as part of the disc when more than 2 % of their pixels exceed
    ``DISC_THRESHOLD`` in a smoothed grey image. Falls back to the whole image.
    """
    h, w = rgb.shape[:2]
    grey = rgb.astype(np.float32).mean(axis=2)
    mask = grey > DISC_THRESHOLD
    cols = np.flatnonzero(mask.mean(axis=0) > 0.02)
    rows = np.flatnonzero(mask.mean(axis=1) > 0.02)
    if cols.size < w * 0.1 or rows.size < h * 0.1:
        return (0, 0, w, h), False
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1), True


def square_crop(img: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """Crop a square around the disc box; the side is the larger box side, padding with black.

    Fundus photographs often clip the disc at the top and bottom, so the square is centred on the
    box centre and the missing parts become black.
    """
    left, top, right, bottom = box
    side = max(right - left, bottom - top)
    cx, cy = (left + right) / 2.0, (top + bottom) / 2.0
    x0, y0 = round(cx - side / 2.0), round(cy - side / 2.0)
    canvas = Image.new("RGB", (side, side), (0, 0, 0))
    canvas.paste(
        img.crop((max(x0, 0), max(y0, 0), x0 + side, y0 + side)), (max(-x0, 0), max(-y0, 0))
    )
    return canvas


def circle_mask(size: int, fraction: float = CIRCLE_FRACTION) -> np.ndarray:
    """Boolean (size, size) mask of a centred circle of radius ``fraction * size / 2``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2.0
    return (xx - c) ** 2 + (yy - c) ** 2 <= (fraction * size / 2.0) ** 2


def fundus_mask(cropped: np.ndarray) -> np.ndarray:
    """Boolean mask of fundus pixels: inside the centred circle and brighter than the border."""
    size = cropped.shape[0]
    grey = Image.fromarray(cropped).convert("L").filter(ImageFilter.MinFilter(5))
    return circle_mask(size) & (np.asarray(grey, dtype=np.float32) > DISC_THRESHOLD)


def normalize_fundus(cropped: np.ndarray) -> np.ndarray:
    """Ben-Graham style local normalisation of a square uint8 fundus crop -> uint8 model domain.

    Pixels outside the fundus are first filled with the mean fundus colour so that the blurred
    local average has no dark rim; the output is neutral grey outside the fundus.
    """
    size = cropped.shape[0]
    mask = fundus_mask(cropped)
    if mask.sum() < 0.05 * size * size:
        mask = circle_mask(size)
    filled = cropped.astype(np.float32)
    filled[~mask] = filled[mask].mean(axis=0)
    img = Image.fromarray(np.clip(np.rint(filled), 0, 255).astype(np.uint8))
    blurred = np.asarray(
        img.filter(ImageFilter.GaussianBlur(size * BLUR_SIGMA_FRACTION)), dtype=np.float32
    )
    diff = filled - blurred
    std = diff[mask].std(axis=0) + 1.0
    out = NEUTRAL + diff * (TARGET_STD / std)
    out[~mask] = NEUTRAL
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def preprocess_pil(img: Image.Image, size: int = DEFAULT_SIZE) -> Preprocessed:
    """Preprocess an RGB PIL image (see module docstring)."""
    work = _to_work_size(img.convert("RGB"))
    rgb = np.asarray(work)
    box, found = find_disc(rgb)
    crop = square_crop(work, box).resize((size, size), Image.Resampling.BILINEAR)
    cropped = np.asarray(crop, dtype=np.uint8)
    return Preprocessed(
        normalize_fundus(cropped), cropped, box, work.size, found, corner_brightness(rgb)
    )


def preprocess_bytes(data: bytes, size: int = DEFAULT_SIZE) -> Preprocessed:
    """Decode and preprocess image file bytes. Raises ImageDecodeError when undecodable."""
    return preprocess_pil(decode_image(data), size)


def preprocess_path(path: str, size: int = DEFAULT_SIZE) -> Preprocessed:
    """Read an image file and preprocess it."""
    with open(path, "rb") as fh:
        return preprocess_bytes(fh.read(), size)

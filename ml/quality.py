"""Image-quality gate: is a photograph a gradable colour fundus image?

All measurements are made on the working-size photo and on the 256 px square crop produced by
``ml.preprocess`` (natural colours), so they cost a few milliseconds. Thresholds were calibrated
with ``python -m ml.quality_calibrate`` on EyePACS images and degraded copies of them (blur,
darkening, over-exposure, cropping) plus synthetic non-fundus images; the measurements are recorded
in ``ml/weights/MODEL_CARD.md``.

Decision order: too_dark -> burnt-out frame -> not_fundus / incomplete_fundus (geometry,
then colour and texture) -> over_exposed -> blurred.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

from ml.preprocess import Preprocessed, circle_mask, fundus_mask

# --- thresholds (measured with ``python -m ml.quality_calibrate``; see MODEL_CARD.md) ---
MIN_BRIGHTNESS = 30.0  # mean grey inside the disc; natural p1 38, darkened x0.15 p99 29
MAX_BRIGHTNESS = 200.0  # mean grey inside the disc; natural p99 ~204 is rare, x3 p50 226
MAX_SATURATED_FRACTION = 0.20  # disc pixels with grey >= 250; natural p99 0.05, x3 p50 0.21
MAX_BURNT_FRACTION = 0.90  # a blank/burnt-out frame: disc pixels at grey >= 250
MAX_CORNER_BRIGHTNESS = 16.0  # image corners; natural p99 0.7, eyepacs256 p99 7.3 (max ~14)
# Contrast-equalised photographs lift the black frame to a dark purple (grey ~20-34, 1.7 % of
# eyepacs256, all refused as not_fundus before): corners up to this fraction of the disc's
# brightness, never above MAX_BORDER_BRIGHTNESS, still count as a dark frame.
MAX_CORNER_TO_DISC = 0.30
MAX_BORDER_BRIGHTNESS = 40.0  # outside the disc circle in the square crop
MIN_CIRCLE_FILL = 0.50  # inscribed circle (r < 0.85 R) covered by fundus; eyepacs256 p1 0.54
MIN_ASPECT = 0.55  # disc height / width (EyePACS discs are clipped top and bottom)
MAX_ASPECT = 1.08  # a disc cut at a side is taller than wide; side-cut copies p1 1.24
MAX_GREEN_RED = 0.92  # retina colour: mean G / mean R inside the disc
MAX_BLUE_RED = 0.85  # retina colour: mean B / mean R inside the disc
MIN_SATURATION = 0.15  # retina colour: mean HSV saturation
MIN_TEXTURE_COVERAGE = 0.22  # retina is textured everywhere; synthetic faces <= 0.20
MIN_FINE_DETAIL = 2.0  # 100 * Laplacian std / brightness; natural p1 2.2, blur 0.6 % p50 1.7
MIN_BLUR_TEXTURE = 0.10  # texture coverage; natural p1 0.095, blur 0.6 % p50 0.098, 1.2 % p95 0.05

REASON_TEXT = {
    "undecodable": "The file could not be decoded as a JPEG or PNG image.",
    "not_fundus": "The image does not look like a colour fundus photograph.",
    "incomplete_fundus": "The fundus is not fully in view (the retinal disc is cut off).",
    "too_dark": "The image is too dark to grade.",
    "over_exposed": "The image is over-exposed (washed out).",
    "blurred": "The image is too blurred to grade.",
}


@dataclass
class QualityResult:
    """Outcome of the quality gate: ``reason`` is "" when gradable."""

    gradable: bool
    reason: str = ""
    detail: str = ""
    metrics: dict = field(default_factory=dict)


def _saturation(rgb: np.ndarray) -> np.ndarray:
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    return np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)


def texture(cropped: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(coverage, relative fine detail) of the green channel inside the disc.

    coverage: fraction of disc pixels whose deviation from a 2 px local mean exceeds 1.5 % of the
    mean brightness (retina is textured everywhere; drawings and pages are flat).
    fine: std of the 3x3 Laplacian over mean brightness (drops with defocus).
    """
    green = Image.fromarray(cropped[..., 1])
    g = np.asarray(green, dtype=np.float32)
    hp = g - np.asarray(green.filter(ImageFilter.GaussianBlur(2)), dtype=np.float32)
    lap = (
        np.asarray(
            green.filter(ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], 1, 128)),
            dtype=np.float32,
        )
        - 128.0
    )
    inner = mask & circle_mask(g.shape[0], 0.8)
    if inner.sum() < 100:
        return 0.0, 0.0
    level = g[inner].mean() + 1.0
    return (
        float((np.abs(hp[inner]) > 0.015 * level).mean()),
        float(100.0 * lap[inner].std() / level),
    )


def measure(pre: Preprocessed) -> dict:
    """All quality measurements of a preprocessed image (floats, rounded)."""
    crop = pre.cropped.astype(np.float32)
    size = crop.shape[0]
    grey = crop.mean(axis=-1)
    disc = fundus_mask(pre.cropped)
    inside = circle_mask(size, 0.85)
    outside = ~circle_mask(size, 1.02)
    pix = crop[disc] if disc.sum() > 100 else crop.reshape(-1, 3)
    mean = pix.mean(axis=0) + 1e-6
    left, top, right, bottom = pre.disc_box
    tex = texture(pre.cropped, disc if disc.sum() > 100 else np.ones_like(disc))
    m = {
        "border_brightness": float(grey[outside].mean()),
        "circle_fill": float((disc & inside).sum() / inside.sum()),
        "green_red": float(mean[1] / mean[0]),
        "blue_red": float(mean[2] / mean[0]),
        "saturation": float(_saturation(pix / 255.0).mean()),
        "aspect": float((bottom - top) / max(right - left, 1)),
        "disc_found": bool(pre.disc_found),
        "brightness": float(pix.mean()),
        "saturated_fraction": float((pix.mean(axis=-1) >= 250).mean()),
        "corner_brightness": float(pre.corner_brightness),
        "texture_coverage": tex[0],
        "fine_detail": tex[1],
        "grey_std": float(grey.std()),
    }
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}


def _corners_dark(m: dict) -> bool:
    """Corners dark in absolute terms, or (equalised photographs) relative to the disc."""
    relative = min(MAX_BORDER_BRIGHTNESS, MAX_CORNER_TO_DISC * m["brightness"])
    return m["corner_brightness"] <= max(MAX_CORNER_BRIGHTNESS, relative)


def _fundus_geometry(m: dict) -> bool:
    """Dark frame around a round (possibly top/bottom-clipped) disc."""
    return (
        m["disc_found"]
        and _corners_dark(m)
        and m["border_brightness"] <= MAX_BORDER_BRIGHTNESS
        and m["circle_fill"] >= MIN_CIRCLE_FILL
        and MIN_ASPECT <= m["aspect"] <= MAX_ASPECT
    )


def _retina_content(m: dict) -> bool:
    """Red-dominant, saturated, textured content (used when the geometry is not a full disc)."""
    return (
        m["green_red"] <= MAX_GREEN_RED
        and m["blue_red"] <= MAX_BLUE_RED
        and m["saturation"] >= MIN_SATURATION
        and m["texture_coverage"] >= MIN_TEXTURE_COVERAGE
    )


def failed_checks(m: dict) -> list[str]:
    """Names of the thresholds that measurements ``m`` violate (why an image was refused)."""
    checks = {
        "MIN_BRIGHTNESS": m["brightness"] >= MIN_BRIGHTNESS,
        "MAX_BRIGHTNESS": m["brightness"] <= MAX_BRIGHTNESS,
        "MAX_SATURATED_FRACTION": m["saturated_fraction"] <= MAX_SATURATED_FRACTION,
        "disc_found": bool(m["disc_found"]),
        "MAX_CORNER_BRIGHTNESS": _corners_dark(m),
        "MAX_BORDER_BRIGHTNESS": m["border_brightness"] <= MAX_BORDER_BRIGHTNESS,
        "MIN_CIRCLE_FILL": m["circle_fill"] >= MIN_CIRCLE_FILL,
        "MIN_ASPECT": m["aspect"] >= MIN_ASPECT,
        "MAX_ASPECT": m["aspect"] <= MAX_ASPECT,
        "MAX_GREEN_RED": m["green_red"] <= MAX_GREEN_RED,
        "MAX_BLUE_RED": m["blue_red"] <= MAX_BLUE_RED,
        "MIN_SATURATION": m["saturation"] >= MIN_SATURATION,
        "MIN_TEXTURE_COVERAGE": m["texture_coverage"] >= MIN_TEXTURE_COVERAGE,
        "MIN_FINE_DETAIL": m["fine_detail"] >= MIN_FINE_DETAIL,
        "MIN_BLUR_TEXTURE": m["texture_coverage"] >= MIN_BLUR_TEXTURE,
    }
    return [name for name, ok in checks.items() if not ok]


def classify(m: dict) -> str:
    """Reason code for measurements ``m`` ("" when gradable)."""
    if m["brightness"] < MIN_BRIGHTNESS:
        return "too_dark"
    if m["saturated_fraction"] >= MAX_BURNT_FRACTION:
        return "over_exposed"
    if not _fundus_geometry(m):
        return "incomplete_fundus" if _retina_content(m) else "not_fundus"
    if m["brightness"] > MAX_BRIGHTNESS or m["saturated_fraction"] > MAX_SATURATED_FRACTION:
        return "over_exposed"
    if m["fine_detail"] < MIN_FINE_DETAIL or m["texture_coverage"] < MIN_BLUR_TEXTURE:
        return "blurred"
    return ""


def assess(pre: Preprocessed) -> QualityResult:
    """Run the quality gate on a preprocessed image."""
    m = measure(pre)
    reason = classify(m)
    return QualityResult(
        gradable=not reason, reason=reason, detail=REASON_TEXT.get(reason, ""), metrics=m
    )

"""Synthetic and degraded images for quality calibration and tests (deterministic)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter


def to_jpeg(img: Image.Image, quality: int = 92) -> bytes:
    """Encode a PIL image as JPEG bytes."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def document_page(width: int = 800, height: int = 1000, seed: int = 0) -> Image.Image:
    """A white page with lines of black text, drawn with PIL."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (width, height), (250, 250, 246))
    draw = ImageDraw.Draw(img)
    y = 60
    while y < height - 60:
        words = " ".join(
            "".join(chr(97 + c) for c in rng.integers(0, 26, rng.integers(2, 9))) for _ in range(12)
        )
        draw.text((50, y), words, fill=(20, 20, 20))
        y += 24
    return img


def face_like(
    width: int = 640, height: int = 800, background: tuple = (200, 210, 225), seed: int = 0
) -> Image.Image:
    """A skin-toned face-like drawing (oval head, eyes, nose, mouth, hair) on a background."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (width, height), background)
    d = ImageDraw.Draw(img)
    skin = tuple(int(c) for c in np.array([224, 172, 140]) + rng.integers(-10, 10, 3))
    cx, cy, rx, ry = width // 2, height // 2, width // 3, int(height / 2.6)
    d.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=skin)
    d.chord((cx - rx, cy - ry - 20, cx + rx, cy), 180, 360, fill=(60, 40, 25))
    for ex in (cx - rx // 2, cx + rx // 2):
        d.ellipse((ex - 30, cy - 40, ex + 30, cy - 10), fill=(255, 255, 255))
        d.ellipse((ex - 12, cy - 37, ex + 12, cy - 13), fill=(70, 50, 30))
    d.polygon([(cx, cy - 10), (cx - 18, cy + 60), (cx + 18, cy + 60)], fill=(205, 150, 120))
    d.chord((cx - 70, cy + 80, cx + 70, cy + 150), 0, 180, fill=(170, 60, 70))
    return img.filter(ImageFilter.GaussianBlur(1.5))


def blurred(img: Image.Image, fraction: float = 0.006) -> Image.Image:
    """Gaussian blur with radius ``fraction`` of the image width (defocus)."""
    return img.filter(ImageFilter.GaussianBlur(img.width * fraction))


def darkened(img: Image.Image, factor: float = 0.15) -> Image.Image:
    """Scale brightness by ``factor`` (under-exposure)."""
    return ImageEnhance.Brightness(img).enhance(factor)


def over_exposed(img: Image.Image, factor: float = 3.0) -> Image.Image:
    """Scale brightness by ``factor`` with clipping (over-exposure)."""
    return ImageEnhance.Brightness(img).enhance(factor)


def cut_side(img: Image.Image, keep: float = 0.6) -> Image.Image:
    """Keep only the left ``keep`` fraction of the width (disc cut at the right)."""
    return img.crop((0, 0, int(img.width * keep), img.height))


def zoomed(img: Image.Image, keep: float = 0.5) -> Image.Image:
    """Central crop keeping ``keep`` of each side (no border visible)."""
    w, h = img.size
    dx, dy = int(w * (1 - keep) / 2), int(h * (1 - keep) / 2)
    return img.crop((dx, dy, w - dx, h - dy))

"""Preprocessing: determinism, shape/range, decoding, natural vs equalised domain."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ml.errors import ImageDecodeError
from ml.preprocess import (
    DEFAULT_SIZE,
    NEUTRAL,
    TARGET_STD,
    circle_mask,
    decode_image,
    fundus_mask,
    preprocess_bytes,
    preprocess_path,
)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    m = circle_mask(a.shape[0], 0.85)
    return float(np.corrcoef(a.astype(float).mean(-1)[m], b.astype(float).mean(-1)[m])[0, 1])


def test_deterministic_shape_and_range(sample_bytes):
    data = sample_bytes["natural_177_left_grade0"]
    a, b = preprocess_bytes(data), preprocess_bytes(data)
    assert np.array_equal(a.normalized, b.normalized)
    assert a.normalized.shape == (DEFAULT_SIZE, DEFAULT_SIZE, 3)
    assert a.normalized.dtype == np.uint8 and a.cropped.shape == a.normalized.shape
    assert a.disc_found
    assert (a.normalized[~circle_mask(DEFAULT_SIZE)] == NEUTRAL).all()
    inside = a.normalized[fundus_mask(a.cropped)].astype(float)
    assert abs(inside.mean() - NEUTRAL) < 10
    assert 0.6 * TARGET_STD < inside.std() < 1.4 * TARGET_STD


def test_custom_size(sample_bytes):
    assert preprocess_bytes(sample_bytes["natural_217_left_grade4"], 64).normalized.shape == (
        64,
        64,
        3,
    )


def test_png_and_exif_orientation(sample_bytes):
    img = decode_image(sample_bytes["natural_184_left_grade2"])
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    img.save(buf, "JPEG", exif=exif)
    rotated = decode_image(buf.getvalue())
    assert rotated.size == (img.height, img.width)
    png = io.BytesIO()
    img.save(png, "PNG")
    assert preprocess_bytes(png.getvalue()).normalized.shape == (DEFAULT_SIZE, DEFAULT_SIZE, 3)


def test_undecodable_raises():
    with pytest.raises(ImageDecodeError):
        preprocess_bytes(b"definitely not an image")


def test_shipped_natural_and_equalised_land_close(samples_dir):
    nat = preprocess_path(str(samples_dir / "natural_129_left_grade2.jpg")).normalized
    eq = preprocess_path(str(samples_dir / "equalised_129_left_grade2.jpg")).normalized
    other = preprocess_path(str(samples_dir / "natural_177_left_grade0.jpg")).normalized
    assert _corr(nat, eq) > 0.5 > _corr(nat, other) + 0.3
    assert np.abs(nat.astype(float) - eq).mean() < 0.75 * np.abs(other.astype(float) - eq).mean()
    # colour statistics of the two domains match after normalisation
    assert np.abs(nat.reshape(-1, 3).mean(0) - eq.reshape(-1, 3).mean(0)).max() < 5


def test_shared_duplicates_land_close(shared_data):
    nat_ids = {p.stem for p in (shared_data / "eyepacs-natural" / "images").glob("*.jpeg")}
    ids = sorted(
        i for i in nat_ids if (shared_data / "eyepacs256" / "images" / f"{i}.jpeg").exists()
    )[:12]
    assert len(ids) >= 8
    nat = [
        preprocess_path(str(shared_data / "eyepacs-natural" / "images" / f"{i}.jpeg")) for i in ids
    ]
    eq = [preprocess_path(str(shared_data / "eyepacs256" / "images" / f"{i}.jpeg")) for i in ids]
    same = [_corr(n.normalized, e.normalized) for n, e in zip(nat, eq, strict=True)]
    other = [_corr(nat[k].normalized, eq[(k + 1) % len(ids)].normalized) for k in range(len(ids))]
    assert np.mean(same) > 0.4 and np.mean(same) > np.mean(other) + 0.3
    d_same = [
        np.abs(n.normalized.astype(float) - e.normalized).mean()
        for n, e in zip(nat, eq, strict=True)
    ]
    d_other = [
        np.abs(nat[k].normalized.astype(float) - eq[(k + 1) % len(ids)].normalized).mean()
        for k in range(len(ids))
    ]
    assert np.mean(d_same) < 0.8 * np.mean(d_other)

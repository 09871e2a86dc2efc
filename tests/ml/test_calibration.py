"""Temperature scaling: fitting recovers a known temperature, calibration improves reliability,
and the grader applies a calibration only when its card carries one."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from ml import calibration as cal


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def overconfident():
    """True grade probabilities softmax(z); the model reports softmax(2.5 z): over-confident,
    so the temperature that undoes it is 2.5."""
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 1.2, (20000, 5)) + np.array([1.5, 0.0, 0.5, -0.5, -0.8])
    true_p = _softmax(z)
    y = np.array([rng.choice(5, p=p) for p in true_p])
    return _softmax(2.5 * z), y


def test_fit_recovers_the_temperature_and_improves_reliability(overconfident):
    reported, y = overconfident
    t = cal.fit_temperature(reported, y)
    assert t == pytest.approx(2.5, rel=0.05)
    fixed = cal.apply_temperature(reported, t)
    assert cal.negative_log_likelihood(fixed, y) < cal.negative_log_likelihood(reported, y)
    ref_before, ref_after, truth = reported[:, 2:].sum(1), fixed[:, 2:].sum(1), y >= 2
    ece_before = cal.expected_calibration_error(ref_before, truth)
    ece_after = cal.expected_calibration_error(ref_after, truth)
    assert ece_after < 0.02 < ece_before
    rows = cal.reliability_table(ref_after, truth)
    assert sum(r["n"] for r in rows) == len(y) and len(rows) == 10
    for r in rows:
        if r["n"] > 500:  # each well-filled bin: observed frequency close to the prediction
            assert abs(r["observed"] - r["mean_predicted"]) < 0.05


def test_temperature_one_is_the_identity_and_keeps_the_argmax(overconfident):
    reported, _ = overconfident
    assert np.array_equal(cal.apply_temperature(reported, 1.0), reported)
    soft = cal.apply_temperature(reported[:50], 3.0)
    assert np.allclose(soft.sum(1), 1.0)
    assert np.array_equal(soft.argmax(1), reported[:50].argmax(1))


def test_reliability_writers(tmp_path, overconfident):
    reported, y = overconfident
    rows = cal.reliability_table(reported[:, 2:].sum(1), y >= 2)
    cal.draw_reliability(rows, tmp_path / "rel.png", "synthetic")
    assert Image.open(tmp_path / "rel.png").size[0] > 300
    md = cal.reliability_markdown(rows)
    assert md.startswith("| predicted | n |") and md.count("\n") >= 3


def test_grader_applies_a_card_calibration_only_when_present(tiny_grader, tmp_path):
    from ml.errors import WeightsError
    from ml.grader import _CACHE, Grader
    from ml.model import write_card

    src = next(k[0] for k, v in _CACHE.items() if v is tiny_grader)
    x = np.random.default_rng(1).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    raw = tiny_grader.predict_normalized(x)
    calibrated = tmp_path / "calibrated"
    shutil.copytree(src, calibrated)
    card = dict(tiny_grader.card, calibration={"method": "temperature", "temperature": 2.0})
    write_card(calibrated, card)
    got = Grader.load(calibrated).predict_normalized(x)
    assert np.allclose(got, cal.apply_temperature(raw, 2.0), atol=1e-6)
    assert not np.allclose(got, raw, atol=1e-4)
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    write_card(bad, dict(tiny_grader.card, calibration={"method": "isotonic"}))
    with pytest.raises(WeightsError, match="calibration"):
        Grader.load(bad)

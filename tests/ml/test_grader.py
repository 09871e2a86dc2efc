"""Grader interface: tiny real model (fast) and the shipped model."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from ml.grader import Grader, GradeResult
from ml.model import CARD_FILE, read_card
from tests.ml import synthetic as S


def test_tiny_grader_batch(tiny_grader, sample_bytes):
    items = [
        sample_bytes["natural_177_left_grade0"],
        b"\x89PNG broken",
        sample_bytes["natural_217_left_grade4"],
        S.to_jpeg(S.document_page()),
    ]
    results = tiny_grader.grade(items, explain=True)
    assert len(results) == 4 and all(isinstance(r, GradeResult) for r in results)
    ok, bad, ok2, doc = results
    for r in (ok, ok2):
        assert r.gradable and r.quality_reason == ""
        assert len(r.probabilities) == 5 and abs(sum(r.probabilities) - 1) < 1e-5
        assert r.grade in range(5) and r.confidence == pytest.approx(r.probabilities[r.grade])
        assert r.referable_probability == pytest.approx(sum(r.probabilities[2:]))
        assert r.referable == (r.referable_probability >= tiny_grader.referable_threshold)
        heat = Image.open(io.BytesIO(r.heatmap_png))
        assert heat.format == "PNG" and heat.mode == "RGBA"  # a layer over the photograph
        assert r.model_version == tiny_grader.model_version == "tiny-test-0"
        assert r.weights_sha256 == tiny_grader.weights_sha256
    assert not np.allclose(ok.probabilities, ok2.probabilities)  # a real model, not a constant
    assert not bad.gradable and bad.quality_reason == "undecodable" and bad.grade is None
    assert bad.probabilities == [] and bad.referable is None and bad.heatmap_png is None
    assert not doc.gradable and doc.quality_reason == "not_fundus" and doc.grade is None
    assert doc.quality_metrics and doc.quality_detail


def test_tiny_grader_without_explain(tiny_grader, sample_bytes):
    r = tiny_grader.grade([sample_bytes["natural_184_left_grade2"]])[0]
    assert r.gradable and r.heatmap_png is None
    assert tiny_grader.grade([]) == []


def test_load_is_cached(tiny_grader, tmp_path):
    from ml.errors import WeightsError

    assert Grader.load(_dir_of(tiny_grader)) is tiny_grader  # loaded once per directory
    with pytest.raises(WeightsError):
        Grader.load(tmp_path)


def _dir_of(grader: Grader):
    from ml.grader import _CACHE

    return next(k[0] for k, v in _CACHE.items() if v is grader)


def test_shipped_model_grades_a_real_fundus(shipped_grader, samples_dir, sample_bytes):
    from ml.grader import SHIPPED_WEIGHTS

    card = read_card(SHIPPED_WEIGHTS)
    assert json.loads((SHIPPED_WEIGHTS / CARD_FILE).read_text()) == card
    assert shipped_grader.model_version == card["model_version"]
    assert shipped_grader.weights_sha256 == card["weights_sha256"]
    r0, r4 = shipped_grader.grade(
        [sample_bytes["natural_177_left_grade0"], sample_bytes["natural_217_left_grade4"]],
        explain=True,
    )
    assert r0.gradable and r4.gradable
    assert abs(sum(r4.probabilities) - 1) < 1e-5
    assert r4.referable_probability > r0.referable_probability
    assert r4.referable and not r0.referable
    assert Image.open(io.BytesIO(r4.heatmap_png)).size == work_size(
        sample_bytes["natural_217_left_grade4"]
    )


def test_ensemble_card_averages_members(tmp_path, sample_bytes):
    """A card with an "ensemble" list averages its members' probabilities with their weights,
    checks every member's SHA-256, and keeps the first member for the heatmaps."""
    import shutil

    from ml.errors import WeightsError
    from ml.model import WEIGHTS_FILE, sha256_file, write_card
    from tests.ml.tiny import build_tiny_grader

    a = build_tiny_grader(tmp_path / "a", seed=1)
    b = build_tiny_grader(tmp_path / "b", seed=2)
    ens = tmp_path / "ens"
    ens.mkdir()
    shutil.copyfile(tmp_path / "a" / WEIGHTS_FILE, ens / WEIGHTS_FILE)
    shutil.copyfile(tmp_path / "b" / WEIGHTS_FILE, ens / "member_b.npz")
    card = dict(a.card, model_version="tiny-ensemble-0")
    card["ensemble"] = [
        {"weights_file": WEIGHTS_FILE, "sha256": sha256_file(ens / WEIGHTS_FILE), "weight": 0.7},
        {
            "weights_file": "member_b.npz",
            "sha256": sha256_file(ens / "member_b.npz"),
            "weight": 0.3,
        },
    ]
    write_card(ens, card)
    grader = Grader.load(ens)
    assert len(grader.members) == 2 and Grader.load(ens) is grader
    x = np.stack(
        [
            np.asarray(Image.open(io.BytesIO(sample_bytes[k])).convert("RGB").resize((64, 64)))
            for k in ("natural_177_left_grade0", "natural_217_left_grade4")
        ]
    )
    expected = 0.7 * a.predict_normalized(x) + 0.3 * b.predict_normalized(x)
    assert np.allclose(grader.predict_normalized(x), expected, atol=1e-5)
    assert not np.allclose(a.predict_normalized(x), b.predict_normalized(x), atol=1e-3)
    r = grader.grade([sample_bytes["natural_217_left_grade4"]], explain=True)[0]
    assert r.gradable and r.model_version == "tiny-ensemble-0"
    assert Image.open(io.BytesIO(r.heatmap_png)).size == work_size(
        sample_bytes["natural_217_left_grade4"]
    )

    bad = tmp_path / "bad"
    shutil.copytree(ens, bad)
    card["ensemble"][1]["sha256"] = "0" * 64  # a tampered member is refused
    write_card(bad, card)
    with pytest.raises(WeightsError):
        Grader.load(bad)


def _tiny_batch(sample_bytes) -> np.ndarray:
    return np.stack(
        [
            np.asarray(Image.open(io.BytesIO(sample_bytes[k])).convert("RGB").resize((64, 64)))
            for k in ("natural_177_left_grade0", "natural_217_left_grade4")
        ]
    )


def test_test_time_views_average_the_dihedral_views(tmp_path, sample_bytes):
    """A card with "tta_views" averages the probabilities of the flipped/rotated images."""
    import shutil

    from ml.errors import WeightsError
    from ml.model import write_card
    from tests.ml.tiny import build_tiny_grader

    base = build_tiny_grader(tmp_path / "base", seed=3)
    tta = tmp_path / "tta"
    shutil.copytree(tmp_path / "base", tta)
    write_card(tta, dict(base.card, tta_views=["identity", "hflip", "vflip", "rot180"]))
    grader = Grader.load(tta)
    x = _tiny_batch(sample_bytes).astype(np.float32)
    views = [x, x[:, :, ::-1], x[:, ::-1, :], x[:, ::-1, ::-1]]
    expected = np.mean([base.predict_normalized(v) for v in views], axis=0)
    assert np.allclose(grader.predict_normalized(x), expected, atol=1e-5)
    assert not np.allclose(base.predict_normalized(x), expected, atol=1e-4)  # views differ
    r = grader.grade([sample_bytes["natural_217_left_grade4"]])[0]
    assert r.gradable and abs(sum(r.probabilities) - 1) < 1e-5

    odd = tmp_path / "odd"
    shutil.copytree(tmp_path / "base", odd)
    write_card(odd, dict(base.card, tta_views=["identity", "transpose"]))
    with pytest.raises(WeightsError, match="transpose"):
        Grader.load(odd)


def test_ensemble_member_that_upsamples_its_input(tmp_path, sample_bytes):
    """A member marked "upsample" is rebuilt with its in-model resize, so its weights give the
    same probabilities in the grader as in the model that was trained."""
    import keras

    from ml.model import WEIGHTS_FILE, build_full_model, save_weights_npz, sha256_file, write_card
    from tests.ml.tiny import build_tiny_grader

    base = build_tiny_grader(tmp_path / "base", seed=4)
    keras.utils.set_random_seed(5)
    up = build_full_model(64, width=0.25, upsample=96)
    assert up.get_layer("upsample").output.shape[1:3] == (96, 96)
    ens = tmp_path / "ens"
    ens.mkdir()
    import shutil

    shutil.copyfile(tmp_path / "base" / WEIGHTS_FILE, ens / WEIGHTS_FILE)
    save_weights_npz(up, ens / "model_upsampled.weights.npz")
    card = dict(base.card)
    card["ensemble"] = [
        {"weights_file": WEIGHTS_FILE, "sha256": sha256_file(ens / WEIGHTS_FILE), "weight": 0.5},
        {
            "weights_file": "model_upsampled.weights.npz",
            "sha256": sha256_file(ens / "model_upsampled.weights.npz"),
            "weight": 0.5,
            "upsample": 96,
        },
    ]
    write_card(ens, card)
    grader = Grader.load(ens)
    member = grader.members[1][0]
    assert member.get_layer("upsample").output.shape[1:3] == (96, 96)
    x = _tiny_batch(sample_bytes).astype(np.float32)
    reloaded = np.asarray(member(x, training=False))
    assert np.allclose(reloaded, np.asarray(up(x, training=False)), atol=2e-2)  # fp16 weights
    expected = 0.5 * base.predict_normalized(x) + 0.5 * reloaded
    assert np.allclose(grader.predict_normalized(x), expected, atol=1e-5)


# Probabilities of the shipped effnetlite0-dr-1.3 on three samples, recorded before ml/ was split
# into the serving package and ml/training (the restructuring must not change what ships).
SHIPPED_PROBABILITIES = {
    "natural_177_left_grade0": ([0.8179756, 0.0723111, 0.1070547, 0.001026, 0.0016326], 0),
    "natural_217_left_grade4": ([0.0138295, 0.0015032, 0.0318057, 0.0032018, 0.9496597], 4),
    "natural_352_left_grade3": ([0.0675533, 0.0622069, 0.4126624, 0.1943907, 0.2631867], 2),
}


def test_shipped_model_outputs_are_unchanged(shipped_grader, sample_bytes):
    names = sorted(SHIPPED_PROBABILITIES)
    results = shipped_grader.grade([sample_bytes[n] for n in names])
    for name, r in zip(names, results, strict=True):
        probs, grade = SHIPPED_PROBABILITIES[name]
        assert np.allclose(r.probabilities, probs, atol=1e-5), (name, r.probabilities)
        assert r.grade == grade


def work_size(data: bytes) -> tuple[int, int]:
    """The size of the photograph the heat layer lies on (ml.preprocess's working image)."""
    from ml.preprocess import preprocess_bytes

    return preprocess_bytes(data).work_size

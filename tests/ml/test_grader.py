"""Grader interface: tiny real model (fast) and the shipped model."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from ml import synthetic as S
from ml.grader import Grader, GradeResult
from ml.model import CARD_FILE, read_card


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
        assert heat.format == "PNG" and heat.width == heat.height == tiny_grader.input_size
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
    assert Image.open(io.BytesIO(r4.heatmap_png)).size == (256, 256)

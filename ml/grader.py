"""Public grading interface used by the Django app (this module never imports Django).

Usage::

    from ml.grader import Grader, GradeResult
    grader = Grader.load()              # shipped ml/weights; cached: loaded once per process
    results = grader.grade([jpeg_bytes, png_bytes], explain=True)

Every input item yields one :class:`GradeResult`, in order. Items that cannot be decoded do not
raise: they give ``gradable=False, quality_reason="undecodable"``. Ungradable results (any
reason) carry no model output: ``probabilities == []``, ``grade is None``, ``referable is None``,
``referable_probability == 0.0``, ``confidence == 0.0``, ``heatmap_png is None``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml import metrics
from ml import model as M
from ml.calibration import apply_card_calibration
from ml.errors import ImageDecodeError, WeightsError
from ml.preprocess import Preprocessed, preprocess_bytes
from ml.quality import REASON_TEXT, assess

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights"
# Test-time augmentation: dihedral views of a (N, S, S, C) batch whose probabilities are averaged
# (card option ``"tta_views"``); the preprocessed disc is centred, so each view is a valid fundus.
TTA_VIEWS = {
    "identity": lambda x: x,
    "hflip": lambda x: x[:, :, ::-1],
    "vflip": lambda x: x[:, ::-1, :],
    "rot180": lambda x: x[:, ::-1, ::-1],
}
_CACHE: dict[tuple[str, str], Grader] = {}
_LOCK = threading.Lock()


@dataclass
class GradeResult:
    """Grading outcome of one image (see module docstring for ungradable items).

    ``grade``: ICDR grade 0-4 from the expected grade and the card's cut points.
    ``referable_probability``: P(grade >= 2); ``referable``: it is >= the card's threshold.
    ``confidence``: probability of the returned grade. ``heatmap_png``: Grad-CAM layer of the
    referable probability (RGBA, the photograph's aspect ratio, see ml.explain.heat_layer_png) when
    ``explain``.
    """

    gradable: bool
    quality_reason: str = ""
    quality_detail: str = ""
    quality_metrics: dict = field(default_factory=dict)
    probabilities: list[float] = field(default_factory=list)
    grade: int | None = None
    referable_probability: float = 0.0
    referable: bool | None = None
    confidence: float = 0.0
    heatmap_png: bytes | None = None
    model_version: str = ""
    weights_sha256: str = ""


REFERABLE_FIRST = "referable_first"
EXPECTED_CUT = "expected_cut"


def referable_first_grade(p: np.ndarray, referable: bool) -> int:
    """The grade a screening programme can act on: first the referable decision (P(grade >= 2)
    against the sensitivity-set threshold), then the most probable grade on that side of the line.

    So the grade never contradicts the referable flag (the outcome follows the grade), and it is
    always one of the two or three grades the probabilities favour. Cutting the expected grade
    (card option ``"grade_rule": "expected_cut"``) scores a higher kappa but can show grade 4 with
    P(4) = 0, or a referable grade 1.
    """
    return int(np.argmax(p[2:]) + 2) if referable else int(np.argmax(p[:2]))


class Grader:
    """A loaded DR grading model plus its model card (thresholds, version).

    A card with an ``"ensemble"`` list (``{"weights_file", "sha256", "weight"}`` per member, same
    architecture) makes the grader average the members' probabilities with those weights; the
    first member (the card's ``weights_file``) is ``model`` and drives the Grad-CAM heatmaps.
    A card with a ``"calibration"`` entry (``ml.calibration``) rescales the averaged
    probabilities; without one they are used as the members give them.
    """

    def __init__(self, model, card: dict, weights_sha256: str, members: list | None = None) -> None:
        import tensorflow as tf

        self.model = model
        self.members: list[tuple] = members or [(model, 1.0)]
        self.card = card
        self.model_version: str = card["model_version"]
        self.weights_sha256: str = weights_sha256
        self.input_size: int = int(card["input_size"])
        self.cut_points: tuple = tuple(card.get("grade_cut_points", metrics.DEFAULT_CUTS))
        self.referable_threshold: float = float(card.get("referable_threshold", 0.5))
        default_views = ["identity", "hflip"] if card.get("tta_hflip") else ["identity"]
        self.tta_views: tuple[str, ...] = tuple(card.get("tta_views") or default_views)
        unknown = [v for v in self.tta_views if v not in TTA_VIEWS]
        if unknown:
            raise WeightsError(f"model card names unknown test-time views: {unknown}")
        self.grade_rule: str = card.get("grade_rule", REFERABLE_FIRST)
        try:
            apply_card_calibration(np.full((1, metrics.NUM_GRADES), 0.2), card)
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"model card has an invalid calibration: {exc}") from exc
        self._infer = tf.function(self._average, reduce_retracing=True)
        self._cam_model = None
        self._lock = threading.Lock()

    def _average(self, x):
        total = sum(w for _, w in self.members)
        return sum(m(x, training=False) * (w / total) for m, w in self.members)

    @classmethod
    def load(cls, weights_dir: str | Path | None = None) -> Grader:
        """Load (once per process and directory) the model in ``weights_dir`` (default: shipped).

        Raises :class:`ml.errors.WeightsError` if the card or weights are missing or the weights'
        SHA-256 differs from the card's.
        """
        wdir = Path(weights_dir) if weights_dir else SHIPPED_WEIGHTS
        try:
            card = M.read_card(wdir)
            wfile = wdir / card.get("weights_file", M.WEIGHTS_FILE)
            sha = M.sha256_file(wfile)
        except (OSError, ValueError, KeyError) as exc:
            raise WeightsError(f"cannot read model in {wdir}: {exc}") from exc
        if card.get("weights_sha256") and card["weights_sha256"] != sha:
            raise WeightsError(f"{wfile} does not match the SHA-256 in the model card")
        files = [(wfile, sha, 1.0, int(card.get("upsample", 0)))]
        if card.get("ensemble"):
            files = []
            for member in card["ensemble"]:
                mfile = wdir / member["weights_file"]
                try:
                    msha = M.sha256_file(mfile)
                except OSError as exc:
                    raise WeightsError(f"cannot read ensemble member {mfile}: {exc}") from exc
                if member.get("sha256") and member["sha256"] != msha:
                    raise WeightsError(f"{mfile} does not match the SHA-256 in the model card")
                files.append((mfile, msha, float(member["weight"]), int(member.get("upsample", 0))))
            if files[0][0] != wfile:
                raise WeightsError("the first ensemble member must be the card's weights_file")
        key = (str(wdir.resolve()), "+".join(f[1] for f in files))
        with _LOCK:
            if key not in _CACHE:
                members = []
                for mfile, _, weight, upsample in files:
                    model = M.build_full_model(
                        int(card["input_size"]), float(card.get("width", 1.0)), upsample=upsample
                    )
                    M.load_weights_npz(model, mfile)
                    members.append((model, weight))
                _CACHE[key] = cls(members[0][0], card, sha, members)
            return _CACHE[key]

    def predict_normalized(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, 5) for preprocessed images (N, S, S, 3) uint8/float 0..255, averaged
        over members and test-time views, calibrated when the card carries a calibration."""
        if len(batch) == 0:
            return np.zeros((0, metrics.NUM_GRADES), dtype=np.float32)
        x = np.asarray(batch, dtype=np.float32)
        views = np.concatenate([TTA_VIEWS[v](x) for v in self.tta_views])  # one model call
        with self._lock:
            probs = np.asarray(self._infer(views))
        probs = probs.reshape(len(self.tta_views), len(x), -1).mean(axis=0)
        return apply_card_calibration(probs, self.card)

    def heatmaps(self, pres: list[Preprocessed]) -> list[bytes]:
        """Grad-CAM heat layer PNGs (RGBA, registered on the photograph) for preprocessed images."""
        from ml.explain import build_cam_model, grad_cam, heat_layer_png, make_cam_fn

        if not pres:
            return []
        with self._lock:
            if self._cam_model is None:
                self._cam_model = make_cam_fn(build_cam_model(self.model))
            cams = grad_cam(self._cam_model, np.stack([p.normalized for p in pres]))
        return [heat_layer_png(p, c) for p, c in zip(pres, cams, strict=True)]

    def _result(self, probs: np.ndarray) -> GradeResult:
        p = np.asarray(probs, dtype=np.float64)
        p = p / p.sum()
        ref_p = float(p[2:].sum())
        referable = ref_p >= self.referable_threshold
        if self.grade_rule == EXPECTED_CUT:
            expected = metrics.expected_grade(p[None])
            grade = int(metrics.grades_from_expectation(expected, self.cut_points)[0])
        else:
            grade = referable_first_grade(p, referable)
        return GradeResult(
            gradable=True,
            probabilities=[float(v) for v in p],
            grade=grade,
            referable_probability=ref_p,
            referable=referable,
            confidence=float(p[grade]),
            model_version=self.model_version,
            weights_sha256=self.weights_sha256,
        )

    def _ungradable(self, reason: str, metrics_: dict | None = None) -> GradeResult:
        return GradeResult(
            gradable=False,
            quality_reason=reason,
            quality_detail=REASON_TEXT.get(reason, reason),
            quality_metrics=metrics_ or {},
            model_version=self.model_version,
            weights_sha256=self.weights_sha256,
        )

    def grade(
        self, images: list[bytes], explain: bool = False, batch_size: int = 16
    ) -> list[GradeResult]:
        """Grade a batch of JPEG/PNG file contents; one result per item, in order."""
        results: list[GradeResult | None] = [None] * len(images)
        todo: list[tuple[int, Preprocessed, dict]] = []
        for i, data in enumerate(images):
            try:
                pre = preprocess_bytes(bytes(data), self.input_size)
            except (ImageDecodeError, TypeError, ValueError):
                results[i] = self._ungradable("undecodable")
                continue
            q = assess(pre)
            if q.gradable:
                todo.append((i, pre, q.metrics))
            else:
                results[i] = self._ungradable(q.reason, q.metrics)
        for s in range(0, len(todo), batch_size):
            chunk = todo[s : s + batch_size]
            probs = self.predict_normalized(np.stack([pre.normalized for _, pre, _ in chunk]))
            maps = self.heatmaps([pre for _, pre, _ in chunk]) if explain else (None,) * len(chunk)
            for (i, _, qm), p, hm in zip(chunk, probs, maps, strict=True):
                r = self._result(p)
                r.quality_metrics, r.heatmap_png = qm, hm
                results[i] = r
        return [r for r in results if r is not None]

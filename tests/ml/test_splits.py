"""Patient-level bookkeeping: folds over all labelled sets, held-out parts, out-of-fold
predictions that never come from a model trained on the same patient."""

from __future__ import annotations

import random

import pytest

from ml.data import patient_of
from ml.training import splits as S


def test_patient_of_both_naming_schemes():
    assert patient_of("10_left") == patient_of("10_right") == "10"
    assert patient_of("Patient001_L") == patient_of("Patient001_R") == "Patient001"


def synthetic_sets(n_eyepacs: int = 120, n_srahim: int = 60) -> list[S.LabelledImage]:
    """eyepacs256 and eyepacs-natural share patients (as the real sets do); srahim is separate,
    with patient numbers that collide with EyePACS ones on purpose."""
    rng = random.Random(3)
    images = []
    for p in range(n_eyepacs):
        for eye in ("left", "right"):
            level = rng.choice([0, 0, 0, 1, 2, 2, 3, 4])
            images.append(S.LabelledImage("eyepacs256", f"{p}_{eye}", level))
            if p % 3 == 0:
                images.append(S.LabelledImage("eyepacs-natural", f"{p}_{eye}", level))
    for p in range(n_srahim):
        for eye in ("L", "R") if p % 4 else ("L",):
            images.append(
                S.LabelledImage(
                    "srahim-1024",
                    f"Patient{p:03d}_{eye}",
                    rng.choice([0, 1, 2]),
                    maculopathy=rng.random() < 0.2,
                )
            )
    return images


def test_patient_keys_follow_the_population():
    a = S.LabelledImage("eyepacs256", "7_left", 0)
    b = S.LabelledImage("eyepacs-natural", "7_right", 2)
    c = S.LabelledImage("srahim-1024", "7_L", 2)
    assert a.patient == b.patient == "eyepacs:7" and c.patient == "srahim:7"


def test_out_of_fold_predictions_never_come_from_a_model_of_the_same_patient():
    images = synthetic_sets()
    held = S.heldout_patients(images)
    folds = S.assign_folds(images, held, k=5)
    by_key = {im.key: im for im in images}
    trained_on: dict[int, set[str]] = {}

    def train(fold, fit_on):
        trained_on[fold] = {im.patient for im in fit_on}
        return fold

    def predict(model, score):
        return [model] * len(score)

    oof = S.out_of_fold(images, folds, train, predict)
    assert set(trained_on) == set(range(5))
    not_held = [im for im in images if im.patient not in held]
    assert set(oof) == {im.key for im in not_held}  # every image predicted exactly once
    for key, (fold, model) in oof.items():
        assert model == fold == folds[key]
        assert by_key[key].patient not in trained_on[model]  # never its own patient
    for patients in trained_on.values():
        assert not patients & held  # held-out patients train no model
    # all images of a patient, in every set, share one fold
    fold_of_patient: dict[str, set[int]] = {}
    for im in images:
        fold_of_patient.setdefault(im.patient, set()).add(folds[im.key])
    assert all(len(f) == 1 for f in fold_of_patient.values())


def test_heldout_parts_are_fixed_stratified_and_respect_eligibility():
    images = synthetic_sets()
    srahim = {im.patient for im in images if im.set_name == "srahim-1024"}
    natural = {im.patient for im in images if im.set_name == "eyepacs-natural"}
    not_eligible = set(sorted(natural)[:10])
    held = S.heldout_patients(images, not_eligible=not_eligible)
    assert held == S.heldout_patients(images, not_eligible=not_eligible)  # deterministic
    assert not held & not_eligible
    assert 0.3 < len(held & srahim) / len(srahim) < 0.5
    assert held & natural and held <= srahim | natural
    folds = S.assign_folds(images, held)
    for im in images:  # an eyepacs256 copy of a held-out natural patient is held out too
        assert (folds[im.key] == S.HELDOUT) == (im.patient in held)


def test_shipped_split_keeps_both_eyes_together():
    labels = {f"{p}_{eye}": (p * 7) % 5 for p in range(200) for eye in ("left", "right")}
    split = S.patient_split(labels, seed=2026)
    assert {split[f"{p}_left"] == split[f"{p}_right"] for p in range(200)} == {True}
    counts = {k: sum(v == k for v in split.values()) for k in ("train", "tune", "val")}
    assert counts["train"] > counts["tune"] > 0 and counts["val"] > 0


def test_committed_heldout_lists_match_the_data(shared_data):
    """ml/training/heldout/ is what splits.py draws from the real data (rerunnable)."""
    images = S.load_labelled(shared_data)
    if not any(im.set_name == "srahim-1024" for im in images):
        pytest.skip("srahim-1024 not available")
    held = S.heldout_patients(
        images,
        not_eligible=S.shipped_training_patients(
            S.HELDOUT_DIR.parents[1] / "weights" / "split.json"
        ),
    )
    for name in S.HELDOUT_FRACTIONS:
        assert S.read_heldout(name) == S.heldout_ids(images, held, name)

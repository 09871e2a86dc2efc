"""The training pipeline end to end on a tiny data set: a loadable grader and a model card."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ml.grader import Grader
from ml.training.config import END_TO_END, FROZEN_BOTTOM, MemberSpec, PipelineConfig

TINY = PipelineConfig(
    version="tiny-train-0",
    members=(
        MemberSpec("tiny-e2e-96", END_TO_END, epochs=2, lr=1e-3, batch_size=8, upsample=96),
        MemberSpec("tiny-top-blocks", FROZEN_BOTTOM, epochs=1, lr=1e-3, batch_size=8),
    ),
    input_size=64,
    width=0.25,
    pretrained=False,
    view_sets=(1, 2),
    grid_step=0.5,
    calibration="temperature",
    graph=False,  # eager: tracing the network costs more CPU than this whole tiny run
)


def make_tiny_set(root, samples_dir, patients: int = 20):
    """``root/eyepacs256``: both eyes of ``patients`` patients, made of the shipped sample
    photographs (flipped, rotated, shrunk), grades from the sample names."""
    folder = root / "eyepacs256" / "images"
    folder.mkdir(parents=True)
    samples = sorted(samples_dir.glob("natural_*.jpg"))
    photos = [Image.open(p).convert("RGB").resize((240, 180)) for p in samples]
    rows = ["image,level"]
    for n in range(patients):
        for eye in ("left", "right"):
            k = (2 * n + (eye == "right")) % len(samples)
            img = photos[k].rotate(15 * n) if n % 2 else photos[k]
            if eye == "right":
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            img.save(folder / f"{n}_{eye}.jpeg", quality=90)
            rows.append(f"{n}_{eye},{samples[k].stem[-1]}")
    (root / "eyepacs256" / "labels.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, samples_dir):
    from ml.training.pipeline import run

    base = tmp_path_factory.mktemp("training")
    make_tiny_set(base / "data", samples_dir)
    card = run(TINY, base / "out", base / "data", base / "work", machine="test host")
    return base, card


def test_tiny_training_run_ships_a_loadable_grader_and_a_card(trained, sample_bytes):
    base, card = trained
    grader = Grader.load(base / "out")
    assert grader.model_version == "tiny-train-0" and len(grader.members) == len(card["ensemble"])
    assert card["calibration"]["method"] == "temperature" and card["calibration"]["temperature"] > 0
    r = grader.grade([sample_bytes["natural_217_left_grade4"]], explain=True)[0]
    assert r.gradable and len(r.probabilities) == 5 and abs(sum(r.probabilities) - 1) < 1e-6
    assert r.heatmap_png and r.model_version == "tiny-train-0"
    assert set(card["members"]) == {"tiny-e2e-96", "tiny-top-blocks"}
    for name, m in card["members"].items():
        spec = next(s for s in TINY.members if s.name == name)
        assert len(m["history"]) == spec.epochs and m["machine"] == "test host"
        assert m["seconds"] >= 0 and 1 <= m["best_epoch"] <= spec.epochs
    assert card["evaluation"]["val_eyepacs256"]["n_images"] == len(
        json.loads((base / "out" / "split.json").read_text())["val"]
    )
    md = (base / "out" / "MODEL_CARD.md").read_text()
    assert "# Model card: tiny-train-0" in md and "tiny-e2e-96" in md and "test host" in md
    assert "2-core" not in md


def test_rerun_skips_finished_members(trained):
    from ml.training.pipeline import run

    base, card = trained
    records = {
        m.name: (base / "work" / "members" / m.name / "member.json").stat().st_mtime_ns
        for m in TINY.members
    }
    again = run(TINY, base / "out2", base / "data", base / "work", "test host", evaluate=False)
    assert again["ensemble"] == card["ensemble"]  # same member files, same choice
    for name, mtime in records.items():
        assert (base / "work" / "members" / name / "member.json").stat().st_mtime_ns == mtime


def test_interrupted_member_resumes_after_its_last_epoch(trained):
    """A member stopped after epoch 1 continues at epoch 2 from its checkpoint."""
    from ml.training.images import preprocess_all
    from ml.training.members import train_member
    from ml.training.pipeline import load_split

    base, _ = trained
    labels, ids = load_split(TINY, base / "data")
    pre = next((base / "work").glob("pre_*.npy"))
    arrays = preprocess_all([], TINY.input_size, pre)
    pos = {i: n for n, i in enumerate(sorted(labels))}
    images = {k: arrays[[pos[i] for i in v]] for k, v in ids.items()}
    y = {k: np.array([labels[i] for i in v]) for k, v in ids.items()}
    one = MemberSpec("resumed", FROZEN_BOTTOM, epochs=1, lr=1e-3, batch_size=8)
    folder = base / "work" / "resumed"
    first = train_member(one, TINY, images, y, folder, "test host")
    (folder / "member.json").unlink()  # as if the run had stopped after epoch 1 of 2
    (folder / "member.weights.npz").unlink()
    two = MemberSpec("resumed", FROZEN_BOTTOM, epochs=2, lr=1e-3, batch_size=8)
    second = train_member(two, TINY, images, y, folder, "test host")
    assert [h["epoch"] for h in second["history"]] == [1, 2]
    assert second["history"][0] == first["history"][0]

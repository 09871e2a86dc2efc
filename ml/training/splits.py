"""Patient-level splits: the shipped model's train / tune / val split, and k-fold cross-fitting
over all labelled sets with fixed held-out evaluation parts.

Both eyes of a patient always land on the same side of every split. Patients are keyed by
population: ``eyepacs256`` and ``eyepacs-natural`` are the same EyePACS patients (``10_left`` in
both is patient 10; 128 photographs are in both sets), ``srahim-1024`` is another population
(``Patient001_L``).

Held-out parts (``HELDOUT_FRACTIONS`` of each set's patients, stratified by the patient's worst
referable status, seed ``HELDOUT_SEED``) never train any model; their ids are committed in
``ml/training/heldout/`` (``python -m ml.training.splits --write-heldout``) and every image of a
held-out patient, in any set, is kept out of training. The eyepacs-natural part is drawn only from
patients the shipped model never trained on, so the shipped and future models are measured on
the same photographs.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ml.data import LABELLED_SETS, data_root, patient_of, read_labels, read_maculopathy

POPULATION = {"eyepacs256": "eyepacs", "eyepacs-natural": "eyepacs", "srahim-1024": "srahim"}
HELDOUT_FRACTIONS = {"eyepacs-natural": 0.4, "srahim-1024": 0.4}
HELDOUT_SEED = 12
HELDOUT_DIR = Path(__file__).resolve().parent / "heldout"
FOLDS = 5
FOLD_SEED = 7
HELDOUT = -1  # fold number of held-out images


def patient_split(
    labels: dict[str, int],
    seed: int = 2026,
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
) -> dict[str, str]:
    """Assign every image to 'train', 'tune' or 'val' by PATIENT, stratified by worst grade.

    Patients are grouped by the maximum grade of their eyes, shuffled with ``seed`` inside each
    group and dealt to the three splits in the given proportions (the shipped model's split).
    """
    patients: dict[str, int] = {}
    for image_id, level in sorted(labels.items()):
        p = patient_of(image_id)
        patients[p] = max(patients.get(p, 0), level)
    rng = random.Random(seed)
    assignment: dict[str, str] = {}
    for grade in sorted(set(patients.values())):
        group = sorted(p for p, g in patients.items() if g == grade)
        rng.shuffle(group)
        n_train = round(len(group) * fractions[0])
        n_tune = round(len(group) * fractions[1])
        for i, p in enumerate(group):
            assignment[p] = "train" if i < n_train else "tune" if i < n_train + n_tune else "val"
    return {image_id: assignment[patient_of(image_id)] for image_id in labels}


@dataclass(frozen=True)
class LabelledImage:
    """One labelled photograph of one set."""

    set_name: str
    image_id: str
    level: int
    maculopathy: bool = False

    @property
    def key(self) -> str:
        """Unique over all sets: ``set/image_id``."""
        return f"{self.set_name}/{self.image_id}"

    @property
    def patient(self) -> str:
        """Patient key over all sets: ``population:patient``."""
        return f"{POPULATION.get(self.set_name, self.set_name)}:{patient_of(self.image_id)}"

    @property
    def referable(self) -> bool:
        """Grade >= 2 or maculopathy."""
        return self.level >= 2 or self.maculopathy


def load_labelled(root: Path, sets: Iterable[str] = LABELLED_SETS) -> list[LabelledImage]:
    """Every labelled image of the sets present under ``root``, sorted by key."""
    out = []
    for name in sets:
        csv_path = Path(root) / name / "labels.csv"
        if not csv_path.exists():
            continue
        macula = read_maculopathy(csv_path) or {}
        out += [
            LabelledImage(name, i, level, macula.get(i, False))
            for i, level in read_labels(csv_path).items()
        ]
    return sorted(out, key=lambda im: im.key)


def _stratified_pick(patients: dict[str, int], fraction: float, rng: random.Random) -> set[str]:
    picked: set[str] = set()
    for stratum in sorted(set(patients.values())):
        group = sorted(p for p, s in patients.items() if s == stratum)
        rng.shuffle(group)
        picked.update(group[: round(len(group) * fraction)])
    return picked


def heldout_patients(
    images: list[LabelledImage],
    fractions: dict[str, float] = HELDOUT_FRACTIONS,
    seed: int = HELDOUT_SEED,
    not_eligible: set[str] = frozenset(),
) -> set[str]:
    """Patient keys held out for evaluation: ``fractions`` of each set's eligible patients,
    stratified by (any referable eye, any maculopathy)."""
    rng = random.Random(seed)
    held: set[str] = set()
    for name in sorted(fractions):
        status: dict[str, int] = {}
        for im in images:
            if im.set_name == name and im.patient not in not_eligible:
                status[im.patient] = max(status.get(im.patient, 0), im.referable + im.maculopathy)
        held |= _stratified_pick(status, fractions[name], rng)
    return held


def assign_folds(
    images: list[LabelledImage], heldout: set[str], k: int = FOLDS, seed: int = FOLD_SEED
) -> dict[str, int]:
    """{image key: fold 0..k-1, or HELDOUT}: patients stratified by their worst grade are dealt
    to the folds in turn, so every image of a patient (in every set) shares one fold."""
    worst: dict[str, int] = {}
    for im in images:
        if im.patient not in heldout:
            worst[im.patient] = max(worst.get(im.patient, 0), im.level + 5 * im.maculopathy)
    rng = random.Random(seed)
    fold_of: dict[str, int] = {}
    n = 0
    for stratum in sorted(set(worst.values())):
        group = sorted(p for p, g in worst.items() if g == stratum)
        rng.shuffle(group)
        for p in group:
            fold_of[p] = n % k
            n += 1
    return {im.key: fold_of.get(im.patient, HELDOUT) for im in images}


def out_of_fold(
    images: list[LabelledImage],
    folds: dict[str, int],
    train: Callable[[int, list[LabelledImage]], object],
    predict: Callable[[object, list[LabelledImage]], list],
) -> dict[str, tuple[int, object]]:
    """Cross-fitting: for each fold f, ``train(f, images of the other folds)`` returns a model and
    ``predict(model, images of fold f)`` their predictions. Returns {image key: (fold, prediction)}
    for every non-held-out image, each predicted by the one model that never saw its patient."""
    k = max(folds.values()) + 1
    out: dict[str, tuple[int, object]] = {}
    for f in range(k):
        fit_on = [im for im in images if folds[im.key] not in (f, HELDOUT)]
        score = [im for im in images if folds[im.key] == f]
        model = train(f, fit_on)
        for im, p in zip(score, predict(model, score), strict=True):
            out[im.key] = (f, p)
    return out


def shipped_training_patients(split_file: Path) -> set[str]:
    """EyePACS patient keys the shipped model trained or tuned on (its ``split.json``)."""
    split = json.loads(Path(split_file).read_text())
    return {f"eyepacs:{patient_of(i)}" for i in split["train"] + split["tune"]}


def heldout_ids(images: list[LabelledImage], heldout: set[str], set_name: str) -> list[str]:
    """Image ids of ``set_name`` whose patient is held out."""
    return sorted(im.image_id for im in images if im.set_name == set_name and im.patient in heldout)


def read_heldout(set_name: str, folder: Path = HELDOUT_DIR) -> list[str]:
    """The committed held-out ids of a set."""
    return (Path(folder) / f"{set_name}.txt").read_text().split()


def main(argv: list[str] | None = None) -> None:
    """Print fold and held-out counts; ``--write-heldout`` rewrites ml/training/heldout/."""
    ap = argparse.ArgumentParser(description="patient folds and held-out parts")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--split-file", type=Path, default=Path("ml/weights/split.json"))
    ap.add_argument("--write-heldout", action="store_true")
    args = ap.parse_args(argv)
    images = load_labelled(data_root(args.data_dir))
    held = heldout_patients(images, not_eligible=shipped_training_patients(args.split_file))
    folds = assign_folds(images, held)
    counts: dict[str, dict[int, int]] = {}
    for im in images:
        counts.setdefault(im.set_name, {}).setdefault(folds[im.key], 0)
        counts[im.set_name][folds[im.key]] += 1
    print(json.dumps({s: dict(sorted(c.items())) for s, c in counts.items()}, indent=1))
    if args.write_heldout:
        HELDOUT_DIR.mkdir(exist_ok=True)
        for name in HELDOUT_FRACTIONS:
            ids = heldout_ids(images, held, name)
            (HELDOUT_DIR / f"{name}.txt").write_text("\n".join(ids) + "\n")


if __name__ == "__main__":
    main()

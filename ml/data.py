"""Data-set helpers: labels.csv reading and the patient-level split."""

from __future__ import annotations

import csv
import random
from pathlib import Path

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".JPEG", ".JPG", ".PNG")


def patient_of(image_id: str) -> str:
    """Patient id of an EyePACS image id ``<patient>_<eye>`` (the whole id when no underscore)."""
    return image_id.rsplit("_", 1)[0]


def read_labels(csv_path: Path) -> dict[str, int]:
    """Read ``image,level`` rows into {image_id: grade}."""
    with open(csv_path, newline="") as fh:
        return {row["image"].strip(): int(row["level"]) for row in csv.DictReader(fh)}


def find_image(images_dir: Path, image_id: str) -> Path | None:
    """Path of ``image_id`` in ``images_dir`` with any usual extension (or as given), else None."""
    images_dir = Path(images_dir)
    direct = images_dir / image_id
    if direct.is_file():
        return direct
    for ext in IMAGE_EXTENSIONS:
        p = images_dir / f"{image_id}{ext}"
        if p.is_file():
            return p
    return None


def patient_split(
    labels: dict[str, int],
    seed: int = 2026,
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
) -> dict[str, str]:
    """Assign every image to 'train', 'tune' or 'val' by PATIENT, stratified by worst grade.

    Patients are grouped by the maximum grade of their eyes, shuffled with ``seed`` inside each
    group and dealt to the three splits in the given proportions, so both eyes of a patient always
    share a split.
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

"""Labelled image folders: where the data lives, ``labels.csv`` reading, image lookup.

A labelled folder holds ``images/<patient>_<eye>.<ext>`` and ``labels.csv`` with columns
``image,level`` (ICDR grade 0-4) and optionally ``maculopathy`` (1 = diabetic maculopathy, which
is referable whatever the grade). The data root is ``--data-dir`` where a command takes one, else
the environment variable ``DR_DATA_DIR``, else ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".JPEG", ".JPG", ".PNG")
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "DR_DATA_DIR"
# The labelled sets this project knows, by folder name under the data root.
LABELLED_SETS = ("eyepacs256", "eyepacs-natural", "srahim-1024")


def data_root(explicit: str | Path | None = None) -> Path:
    """Folder of the labelled sets: ``explicit``, else $DR_DATA_DIR, else ../shared/data."""
    if explicit:
        return Path(explicit)
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV])
    return REPO_ROOT.parent / "shared" / "data"


def patient_of(image_id: str) -> str:
    """Patient id of an image id ``<patient>_<eye>``: ``10_left`` -> ``10``, ``Patient001_L`` ->
    ``Patient001`` (the whole id when there is no underscore)."""
    return image_id.rsplit("_", 1)[0]


def read_labels(csv_path: Path) -> dict[str, int]:
    """Read ``image,level`` rows into {image_id: grade}."""
    with open(csv_path, newline="") as fh:
        return {row["image"].strip(): int(row["level"]) for row in csv.DictReader(fh)}


def read_maculopathy(csv_path: Path) -> dict[str, bool] | None:
    """{image_id: has maculopathy} when ``labels.csv`` has a ``maculopathy`` column, else None."""
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        if "maculopathy" not in (reader.fieldnames or []):
            return None
        return {row["image"].strip(): row["maculopathy"].strip() == "1" for row in reader}


def images_dir_of(folder: Path) -> Path:
    """``folder/images`` when it exists, else ``folder`` itself."""
    folder = Path(folder)
    return folder / "images" if (folder / "images").is_dir() else folder


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

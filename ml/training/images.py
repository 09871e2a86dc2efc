"""Preprocessed training images in RAM, cached on disk so a rerun skips the work."""

from __future__ import annotations

from multiprocessing import Pool
from pathlib import Path

import numpy as np

from ml.preprocess import preprocess_path
from ml.progress import Progress

VIEWS = ("identity", "hflip", "vflip", "rot180")


def _preprocess_one(job: tuple[str, int]) -> np.ndarray:
    return preprocess_path(job[0], job[1]).normalized


def preprocess_all(paths: list[Path], size: int, cache: Path, workers: int = 2) -> np.ndarray:
    """uint8 (N, size, size, 3) model inputs of ``paths`` (``ml.preprocess``), cached as .npy."""
    cache = Path(cache)
    if cache.exists():
        return np.load(cache)
    progress = Progress(len(paths), "preprocess")
    jobs = [(str(p), size) for p in paths]
    arrays = []
    with Pool(workers) as pool:
        for arr in pool.imap(_preprocess_one, jobs, chunksize=8):
            arrays.append(arr)
            progress.update()
    progress.close()
    out = np.stack(arrays)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, out)
    tmp.rename(cache)  # a half-written cache never looks finished
    return out


def apply_view(images: np.ndarray, view: str) -> np.ndarray:
    """Dihedral view of a (N, H, W, C) batch (the grader's test-time views)."""
    from ml.grader import TTA_VIEWS

    return TTA_VIEWS[view](images)

"""Fixtures for the ml package tests (no Django, no database)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ml.data import data_root

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "ml" / "samples"
SHARED = data_root()  # $DR_DATA_DIR, else ../shared/data next to the repository


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """Shipped sample images."""
    return SAMPLES


@pytest.fixture(scope="session")
def sample_bytes() -> dict[str, bytes]:
    """{file stem: bytes} of the shipped samples."""
    return {p.stem: p.read_bytes() for p in sorted(SAMPLES.glob("*.jpg"))}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The labelled data folders; tests using them are skipped where they are absent."""
    if not (SHARED / "eyepacs256" / "labels.csv").exists():
        pytest.skip("shared EyePACS data not available")
    return SHARED


@pytest.fixture(scope="session")
def tiny_grader(tmp_path_factory):
    """A tiny real Keras grader (random init) through the production Grader class."""
    from tests.ml.tiny import build_tiny_grader

    return build_tiny_grader(tmp_path_factory.mktemp("tiny_weights"))


@pytest.fixture(scope="session")
def shipped_grader():
    """The shipped model in ml/weights."""
    from ml.grader import Grader

    return Grader.load()

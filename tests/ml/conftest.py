"""Fixtures for the ml package tests (no Django, no database)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "ml" / "samples"
SHARED = Path(os.environ.get("DR_SHARED_DATA", "/work/shared/data"))


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
    """The shared EyePACS folders; tests using it are skipped where they are absent."""
    if not (SHARED / "eyepacs256" / "labels.csv").exists():
        pytest.skip("shared EyePACS data not available")
    return SHARED


@pytest.fixture(scope="session")
def tiny_grader(tmp_path_factory):
    """A tiny real Keras grader (random init) through the production Grader class."""
    from ml.grader import build_tiny_grader

    return build_tiny_grader(tmp_path_factory.mktemp("tiny_weights"))


@pytest.fixture(scope="session")
def shipped_grader():
    """The shipped model in ml/weights."""
    from ml.grader import Grader

    return Grader.load()

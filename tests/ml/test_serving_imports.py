"""The serving package (what the app imports to grade) never imports the training pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ml

SERVING_MODULES = sorted(
    f"ml.{p.stem}" for p in Path(ml.__file__).parent.glob("*.py") if p.stem != "__init__"
)


def test_every_serving_module_is_listed():
    assert {"ml.grader", "ml.preprocess", "ml.quality", "ml.evaluate", "ml.bench"} <= set(
        SERVING_MODULES
    )
    assert not any(m.startswith("ml.training") for m in SERVING_MODULES)


def test_serving_modules_import_no_training_code():
    code = (
        "import importlib, json, sys\n"
        f"for name in {SERVING_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'ml' or m.startswith('ml.'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(ml.__file__).parents[1],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(SERVING_MODULES) <= set(loaded)
    assert not [m for m in loaded if m.startswith("ml.training")], loaded


def test_test_helpers_live_in_tests():
    import ml.grader

    assert not hasattr(ml.grader, "build_tiny_grader")
    assert not (Path(ml.__file__).parent / "synthetic.py").exists()

"""Fixtures of the model store's tests (training.store.publish and training.runtime.artifacts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import write_small_model


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A models folder that does not exist yet."""
    return tmp_path / "models"


@pytest.fixture
def model(model_dir: Path) -> Path:
    """A small complete model in `model_dir`, version 20261128-175500 (LATEST names it)."""
    return write_small_model(model_dir, "20261128-175500")

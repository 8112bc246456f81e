"""Session fixtures and hooks: the genuine raw rows, a small seeded synthetic table, default
settings, trained models, the reliability figures. Helpers and constants are in tests/helpers.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import FIGURES, REAL_ROWS, small_training_settings
from training.config import TrainingSettings
from training.data.load import load_learners, read_learners_frame
from training.data.synth import generate_learners
from training.prep.features import LearnerData, build_learner_data
from training.run import TrainingResult, run


@pytest.fixture(scope="session")
def real_rows_path() -> Path:
    if not REAL_ROWS.exists():
        pytest.skip(f"{REAL_ROWS} is not there (the shared reference data sits beside the repo)")
    return REAL_ROWS


@pytest.fixture(scope="session")
def real_raw(real_rows_path: Path) -> pd.DataFrame:
    return load_learners(real_rows_path, progress=False)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> TrainingSettings:
    return TrainingSettings(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def small_raw() -> pd.DataFrame:
    """20,000 seeded synthetic raw rows in the loader's schema."""
    return read_learners_frame(generate_learners(rows=20_000, seed=1), origin="test")


@pytest.fixture(scope="session")
def small_data(small_raw: pd.DataFrame, settings: TrainingSettings) -> LearnerData:
    return build_learner_data(small_raw, settings)


@pytest.fixture
def no_learnseg_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No LEARNSEG_* variable of this process reaches the settings (the test may set some)."""
    for name in list(os.environ):
        if name.startswith("LEARNSEG_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture(scope="session")
def trained_small(tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    """A model trained once per session on 20,000 synthetic rows."""
    return run(small_training_settings(tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="session")
def trained_default(tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    """A model trained once per session on the full embedded default (205,843 rows, ~25 s)."""
    return run(TrainingSettings(model_dir=tmp_path_factory.mktemp("default-models")))


# --- service --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def service_model_dir(trained_small: TrainingResult) -> Path:
    """The model folder of ``trained_small`` (LATEST names it). Read-only: copy it to change it."""
    return trained_small.folder.parent


# --- reliability figures ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> list[str]:
    """Append a line to report it at the end of the run."""
    return pytestconfig.stash.setdefault(FIGURES, [])


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("reliability figures")
        for line in lines:
            terminalreporter.write_line(line)

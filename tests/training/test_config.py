"""Training settings (training.config): the checks across fields say in one sentence what is
wrong, whether the values come from arguments or from LEARNSEG_* variables.

The plausible CTC range is checked across its two fields; the upper CTC quantile by its bounds;
the engine and the hierarchical reference by their choices; a previous model by its folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from training.config import DEFAULT_CLUSTER_FEATURES, SettingError, TrainingSettings
from training.runtime.artifacts import KERNEL_JSON
from training.runtime.features import FEATURE_COLUMNS


def _errors(**values: Any) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as info:
        TrainingSettings(**values)
    return [(error["loc"], error["msg"]) for error in info.value.errors()]


def test_k_min_must_be_smaller_than_k_max(no_learnseg_env: pytest.MonkeyPatch) -> None:
    assert _errors(k_min=5, k_max=5) == [
        ((), "Value error, k_min (5) must be smaller than k_max (5).")
    ]
    no_learnseg_env.setenv("LEARNSEG_K_MIN", "9")
    no_learnseg_env.setenv("LEARNSEG_K_MAX", "4")
    assert _errors() == [((), "Value error, k_min (9) must be smaller than k_max (4).")]
    assert TrainingSettings(k_max=10).k_min == 9  # the argument wins; k_min still comes from env


def test_unknown_cluster_features_are_named_with_the_choices(
    no_learnseg_env: pytest.MonkeyPatch,
) -> None:
    assert _errors(cluster_features=("log_ctc", "shoe_size", "iq")) == [
        (
            (),
            "Value error, Unknown cluster features: shoe_size, iq; choose from "
            f"{', '.join(FEATURE_COLUMNS)}.",
        )
    ]
    assert TrainingSettings().cluster_features == DEFAULT_CLUSTER_FEATURES
    chosen = TrainingSettings(cluster_features=("job_class", "log_ctc"))
    assert chosen.cluster_features == ("job_class", "log_ctc")  # any subset, in the given order


def test_the_plausible_ctc_range_must_be_a_range(no_learnseg_env: pytest.MonkeyPatch) -> None:
    assert _errors(ctc_plausible_min=2_000_000, ctc_plausible_max=1_000_000) == [
        (
            (),
            "Value error, ctc_plausible_min (2,000,000) must be smaller than "
            "ctc_plausible_max (1,000,000).",
        )
    ]
    no_learnseg_env.setenv("LEARNSEG_CTC_PLAUSIBLE_MIN", "0")
    assert _errors() == [(("ctc_plausible_min",), "Input should be greater than 0")]
    assert _errors(ctc_plausible_min=1, ctc_upper_quantile=0.4) == [
        (("ctc_upper_quantile",), "Input should be greater than 0.5")
    ]
    defaults = TrainingSettings(ctc_plausible_min=50_000)
    assert (defaults.ctc_plausible_min, defaults.ctc_plausible_max) == (50_000, 100_000_000)
    assert defaults.ctc_upper_quantile == 1.0  # plausible CTCs are kept as they are


def test_choices_are_named_in_one_sentence(no_learnseg_env: pytest.MonkeyPatch) -> None:
    assert _errors(hierarchical="fast") == [
        (("hierarchical",), "Value error, hierarchical must be two-stage or exact, not 'fast'.")
    ]
    no_learnseg_env.setenv("LEARNSEG_ENGINE", "dask")
    assert _errors() == [(("engine",), "Value error, engine must be sklearn or spark, not 'dask'.")]
    assert TrainingSettings(engine="spark", hierarchical="exact").engine == "spark"


def test_previous_must_be_a_model_folder_and_not_fresh(
    no_learnseg_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _errors(previous=tmp_path) == [
        (
            ("previous",),
            f"Value error, previous {tmp_path} is not a model folder (no {KERNEL_JSON}).",
        )
    ]
    (tmp_path / KERNEL_JSON).write_text("{}")
    assert TrainingSettings(previous=tmp_path).previous == tmp_path
    assert _errors(previous=tmp_path, fresh=True) == [
        (
            ("previous",),
            "Value error, previous keeps a model's segment ids and fresh drops them: choose one.",
        )
    ]


def test_a_refused_setting_can_be_named_as_the_caller_knows_it(
    no_learnseg_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError) as info:
        TrainingSettings(k_min=6, k_max=4)
    error = info.value.errors()[0]["ctx"]["error"]
    assert isinstance(error, SettingError)
    assert str(error) == "k_min (6) must be smaller than k_max (4)."
    assert error.sentence({"k_min": "--k-min"}) == "--k-min (6) must be smaller than k_max (4)."

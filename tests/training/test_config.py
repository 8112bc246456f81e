"""Training settings (training.config): the checks across fields say in one sentence what is
wrong, whether the values come from arguments or from LEARNSEG_* variables.

The plausible CTC range is checked across its two fields; the upper CTC quantile by its bounds.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from training.config import DEFAULT_CLUSTER_FEATURES, TrainingSettings
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

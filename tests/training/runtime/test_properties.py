"""Property tests: any raw learner of any types gives features or a documented invalid flag,
and the scalar (one learner) and array (batch) paths agree on every one of them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.prep.features import LearnerData
from training.runtime.cleaning import CleaningRules, CleanRows, apply_rules, describe_rows
from training.runtime.features import (
    FALLBACKS,
    FEATURE_COLUMNS,
    FeatureTables,
    clean_columns,
    compute_features,
    fallback_masks,
    learner_features,
)
from training.runtime.ops import ARRAY

FIELDS = ("company_hash", "orgyear", "ctc", "job_position", "ctc_updated_year")

any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.integers(min_value=1, max_value=3).map(lambda n: "ab 1" * (n * 1_000)),  # 4-12 kB
    st.sampled_from(["", "  ", "Not Available", "NA", "20165", "2018.0", "FullStack Engineer",
                     "xzegojo", "nvnv wgzohrnvzwj otqcxwto", "ünïcødé 工程师", "2020", "0"]),
)  # fmt: skip
plausible_number = st.one_of(
    st.none(),
    st.floats(min_value=-1e12, max_value=1e12),
    st.integers(min_value=0, max_value=100_000),
    st.sampled_from([0, 1, 208, 1900, 2016, 2022, 2204, 20165, math.nan]),
)
raw_learner = st.fixed_dictionaries(
    {
        "company_hash": any_value,
        "orgyear": st.one_of(plausible_number, any_value),
        "ctc": st.one_of(plausible_number, any_value),
        "job_position": any_value,
        "ctc_updated_year": st.one_of(plausible_number, any_value),
    }
)
_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _batch(
    learners: list[dict[str, Any]], rules: CleaningRules, tables: FeatureTables
) -> tuple[CleanRows, dict[str, Any]]:
    columns = {name: [learner.get(name) for learner in learners] for name in FIELDS}
    clean = apply_rules(columns, rules, ARRAY)
    return clean, compute_features(clean_columns(clean), tables, ARRAY)


def test_any_raw_learner_gives_finite_features_or_is_flagged_invalid(
    small_data: LearnerData,
) -> None:
    rules, tables = small_data.rules, small_data.tables

    @_SETTINGS
    @given(learner=raw_learner)
    def check(learner: dict[str, Any]) -> None:
        _check_one(learner, rules, tables)

    check()


def _as_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond float range
        return math.nan


def _check_one(learner: dict[str, Any], rules: CleaningRules, tables: FeatureTables) -> None:
    got = learner_features(learner, rules, tables)
    ctc = learner["ctc"]
    # Only numbers count (text is parsed at the edges); ints beyond float range are not numbers.
    usable = (
        isinstance(ctc, int | float)
        and not isinstance(ctc, bool)
        and math.isfinite(_as_float(ctc))
        and ctc > 0
    )
    assert got.valid == usable
    if got.valid:
        assert all(math.isfinite(v) for v in got.features.values())
        assert got.features["years_experience"] >= 0
        assert rules.orgyear_min <= rules.reference_year
    assert all(isinstance(w, str) and w for w in got.warnings)


def test_batch_and_single_paths_agree(small_data: LearnerData) -> None:
    rules, tables = small_data.rules, small_data.tables

    @_SETTINGS
    @given(learners=st.lists(raw_learner, min_size=1, max_size=8))
    def check(learners: list[dict[str, Any]]) -> None:
        _check_many(learners, rules, tables)

    check()


def _check_many(
    learners: list[dict[str, Any]], rules: CleaningRules, tables: FeatureTables
) -> None:
    clean, values = _batch(learners, rules, tables)
    columns = {name: [learner.get(name) for learner in learners] for name in FIELDS}
    warnings = describe_rows(clean, columns)
    fallbacks = fallback_masks(clean, values)
    for i, learner in enumerate(learners):
        one = learner_features(learner, rules, tables)
        assert one.valid == bool(clean.valid[i])
        if not one.valid:
            continue
        batch_row = [float(values[name][i]) for name in FEATURE_COLUMNS]
        single_row = [one.features[name] for name in FEATURE_COLUMNS]
        np.testing.assert_array_equal(single_row, batch_row)
        assert all(type(value) is float for value in one.features.values())
        # The same warnings, word for word and in the same order, on both paths.
        batch_warnings = warnings[i] + [FALLBACKS[k] for k, mask in fallbacks.items() if mask[i]]
        assert batch_warnings == one.warnings

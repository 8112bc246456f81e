"""The fit half of the features (training.prep.features): peer tables, tiers, fallbacks of small
groups, the frozen reference year. The one feature implementation both paths run is in
tests/training/runtime/test_features.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.config import TrainingSettings
from training.prep.features import LearnerData, build_learner_data
from training.runtime.features import FEATURE_COLUMNS


def test_features_are_finite_and_shaped(small_data: LearnerData) -> None:
    features = small_data.features
    assert list(features.columns) == list(FEATURE_COLUMNS)
    assert len(features) == len(small_data.learners) == small_data.report.learners
    assert np.isfinite(features.to_numpy()).all()
    assert set(features["company_tier"].unique()) == {1.0, 2.0, 3.0}
    assert set(features["designation_flag"].unique()) == {1.0, 2.0, 3.0}
    assert (features["years_experience"] >= 0).all()


def test_tier_one_is_best_paid(small_data: LearnerData) -> None:
    features = small_data.features
    by_tier = features.groupby("company_tier")["log_ctc"].median()
    assert by_tier[1.0] > by_tier[2.0] > by_tier[3.0]
    by_class = features.groupby("job_class")["log_ctc"].median()
    assert by_class[1.0] > by_class[3.0]


def test_small_groups_fall_back(small_raw: pd.DataFrame) -> None:
    strict = build_learner_data(small_raw, TrainingSettings(min_group_size=50))
    loose = build_learner_data(small_raw, TrainingSettings(min_group_size=1))
    assert len(strict.tables.company_median) < len(loose.tables.company_median)
    assert len(strict.tables.peer_median) < len(loose.tables.peer_median)
    assert strict.features["company_known"].mean() < loose.features["company_known"].mean()
    sizes = strict.learners["company"].value_counts()
    small = sizes[sizes < 50].index[0]
    assert small not in strict.tables.company_median
    assert strict.tables.company_size[small] == sizes[small]


def test_reference_year_is_frozen_not_now(small_raw: pd.DataFrame) -> None:
    a = build_learner_data(small_raw, TrainingSettings())
    b = build_learner_data(small_raw, TrainingSettings(reference_year=a.rules.reference_year + 3))
    assert a.tables.reference_year == a.rules.reference_year
    diff = b.features["years_experience"] - a.features["years_experience"]
    same_start = a.learners["orgyear"] == b.learners["orgyear"]
    assert same_start.mean() > 0.99  # a later reference year makes a few future years plausible
    assert np.allclose(diff[same_start], 3)

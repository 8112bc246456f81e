"""Learner features (training.runtime.features): one implementation for the batch and the
single-learner paths, its fallbacks, and frozen tables that need no pandas. The fit half is in
tests/training/test_features.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.features import LearnerData
from training.runtime.cleaning import CleaningRules
from training.runtime.features import FEATURE_COLUMNS, FeatureTables, learner_features


def _single_record_rows(raw: pd.DataFrame, data: LearnerData, n: int) -> pd.DataFrame:
    """Raw rows of learners that have exactly one row (so the raw row is the learner)."""
    counts = raw["email_hash"].value_counts()
    single = raw[raw["email_hash"].map(counts) == 1]
    single = single[single["ctc"] > 0]
    return single.sample(n=n, random_state=0)


def test_batch_and_single_paths_agree_on_1000_learners(
    small_raw: pd.DataFrame, small_data: LearnerData
) -> None:
    rows = _single_record_rows(small_raw, small_data, 1_000)
    batch = small_data.features.set_index(small_data.learners["learner_id"]).loc[rows["email_hash"]]
    single = np.array(
        [
            [
                learner_features(
                    {str(k): v for k, v in row.items()}, small_data.rules, small_data.tables
                ).features[name]
                for name in FEATURE_COLUMNS
            ]
            for row in rows.to_dict(orient="records")
        ]
    )
    np.testing.assert_array_equal(single, batch[list(FEATURE_COLUMNS)].to_numpy())


def test_history_is_passed_through(small_raw: pd.DataFrame, small_data: LearnerData) -> None:
    learners = small_data.learners
    many = learners[learners["n_records"] > 1].head(50)
    assert len(many) == 50
    for position in range(len(many)):
        learner = many.iloc[position]
        raw = {
            "company_hash": learner["company"],
            "job_position": learner["job_title"],
            "orgyear": learner["orgyear"],
            "ctc": learner["ctc"],
            "ctc_updated_year": learner["ctc_updated_year"],
        }
        got = learner_features(
            raw,
            small_data.rules,
            small_data.tables,
            n_records=learner["n_records"],
            ctc_growth=learner["ctc_growth"],
        )
        expected = small_data.features.loc[many.index[position]]
        for name in FEATURE_COLUMNS:
            assert got.features[name] == expected[name], name


def test_unseen_company_and_title_fall_back(small_data: LearnerData) -> None:
    rules, tables = small_data.rules, small_data.tables
    got = learner_features(
        {"company_hash": "never seen co", "job_position": "Quantum Data Wrangler", "ctc": 1_000_000,
         "orgyear": 2016, "ctc_updated_year": 2020},
        rules,
        tables,
    )  # fmt: skip
    log_ctc = np.log(1_000_000)
    assert got.features["company_known"] == 0
    assert got.features["log_company_size"] == 0
    assert got.features["pay_vs_company"] == pytest.approx(log_ctc - tables.population_median)
    # a rare title joins its role family's group of rare titles, or the whole family if too small
    family = tables.title_median.get("Data & Research", tables.family_median["Data & Research"])
    assert got.features["pay_vs_title"] == pytest.approx(log_ctc - family)
    assert got.features["title_known"] == float("Data & Research" in tables.title_median)
    missing = learner_features({"ctc": 1_000_000}, rules, tables)
    assert missing.features["title_known"] == 0 and missing.features["company_known"] == 0
    assert missing.features["pay_vs_title"] == pytest.approx(
        log_ctc - tables.family_median.get("Unknown", tables.population_median)
    )
    assert any("company not seen in training" in w for w in got.warnings)
    assert any("rare: mapped to role family" in w for w in got.warnings)


def test_tables_round_trip_and_single_path_needs_no_pandas(
    small_data: LearnerData, tmp_path: Path
) -> None:
    rules_json = json.dumps(small_data.rules.to_dict())
    tables_json = json.dumps(small_data.tables.to_dict())
    assert FeatureTables.from_dict(json.loads(tables_json)) == small_data.tables
    learner = {"company_hash": "abc", "job_position": "Backend Engineer", "ctc": 900_000}
    expected = learner_features(learner, small_data.rules, small_data.tables).features
    (tmp_path / "rules.json").write_text(rules_json)
    (tmp_path / "tables.json").write_text(tables_json)
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["pandas"] = None  # any pandas import now fails
        from training.runtime.cleaning import CleaningRules
        from training.runtime.features import FeatureTables, learner_features
        rules = CleaningRules.from_dict(json.load(open({str(tmp_path / "rules.json")!r})))
        tables = FeatureTables.from_dict(json.load(open({str(tmp_path / "tables.json")!r})))
        out = learner_features({learner!r}, rules, tables)
        print(json.dumps(out.features))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == pytest.approx(expected)
    assert CleaningRules.from_dict(json.loads(rules_json)) == small_data.rules

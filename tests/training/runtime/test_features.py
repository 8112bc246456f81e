"""Learner features (training.runtime.features): one implementation for the batch and the
single-learner paths, its fallbacks, and frozen tables that need no pandas. The fit half is in
tests/training/prep/test_features.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import raw_learners
from training.prep.features import LearnerData
from training.runtime.cleaning import CleaningRules, apply_rules
from training.runtime.features import (
    FEATURE_COLUMNS,
    FeatureTables,
    clean_columns,
    compute_features,
    learner_features,
)


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
    pay_band = int(np.searchsorted(tables.pay_band_edges, log_ctc, side="right"))
    assert got.features["company_known"] == 0
    assert got.features["log_company_size"] == 0
    # an unknown company counts at the population's pay level, whatever the learner's own pay
    assert got.features["pay_vs_company"] == pytest.approx(log_ctc - tables.population_median)
    tier = len(tables.tier_edges) + 1 - np.searchsorted(tables.tier_edges, tables.population_median)
    assert got.features["company_tier"] == tier
    # a rare title joins its track's group of rare titles, or the whole track if too small
    track = tables.title_median.get("Data & ML", tables.track_median["data"])
    assert got.features["pay_vs_title"] == pytest.approx(log_ctc - track)
    assert got.features["title_known"] == float("Data & ML" in tables.title_median)
    missing = learner_features({"ctc": 1_000_000}, rules, tables)
    assert missing.features["title_known"] == 0 and missing.features["company_known"] == 0
    # a missing title is imputed from pay peers too, never from the learners without a title
    assert "unknown" not in tables.track_median
    assert missing.features["pay_vs_title"] == pytest.approx(
        log_ctc - tables.title_median_by_band[pay_band]
    )
    assert any("company not seen in training" in w for w in got.warnings)
    assert any("is rare: grouped with the other titles of" in w for w in got.warnings)


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


def test_missing_values_are_imputed_alike_in_training_and_serving(
    real_raw: pd.DataFrame, small_data: LearnerData
) -> None:
    """Real rows with no title, an unknown company or a CTC that is no salary, placed with a
    model's frozen rules and tables: the batch path (training) and the one-learner path (the
    service) give the same features, and the imputed figures are the pay peers' own."""
    rules, tables = small_data.rules, small_data.tables
    clean = apply_rules(
        {c: real_raw[c].to_numpy() for c in ("company_hash", "job_position")}
        | {c: real_raw[c].to_numpy(np.float64) for c in ("orgyear", "ctc", "ctc_updated_year")},
        rules,
    )
    batch = compute_features(clean_columns(clean), tables)
    for i, row in enumerate(raw_learners(real_raw)):
        single = learner_features(row, rules, tables)
        assert single.features == {name: batch[name][i] for name in FEATURE_COLUMNS}, i

    no_title = np.array([title is None for title in clean.job_title])
    unknown = batch["company_known"] == 0
    # 33 rows without a title and 2 'Not Available'; CTC 1,000, 12,600 and 24,000
    assert no_title.sum() == 35 and unknown.sum() >= 30 and clean.ctc_imputed.sum() == 3
    log_ctc = np.log(clean.ctc)
    band = np.searchsorted(tables.pay_band_edges, log_ctc, side="right")
    np.testing.assert_allclose(
        batch["pay_vs_company"][unknown], (log_ctc - tables.population_median)[unknown]
    )
    np.testing.assert_allclose(
        batch["pay_vs_title"][no_title],
        (log_ctc - np.take(tables.title_median_by_band, band))[no_title],
    )


def test_imputed_values_spread_instead_of_piling_on_one(small_data: LearnerData) -> None:
    """No stand-in value from a learner's own pay for a company: learners with an unknown company
    all count at the population's level; those with no title or an implausible CTC take several
    values, as learners with their pay or experience do."""
    features, learners = small_data.features, small_data.learners
    unknown = features["company_known"] == 0
    assert unknown.mean() > 0.1
    assert features.loc[unknown, "company_tier"].nunique() == 1
    assert features.loc[~unknown, "company_tier"].nunique() == 3
    # A missing title takes the median title pay of its pay peers: mostly the commonest titles'
    # (their class, never the worst by default), and its pay against it varies with the pay.
    no_title = learners["job_title"].isna().to_numpy()
    assert (features.loc[no_title, "job_class"] < 3).all()
    assert features.loc[no_title, "pay_vs_title"].nunique() > 100
    imputed = learners["ctc_imputed"].to_numpy(bool)
    assert imputed.sum() >= 10
    # several values, none holding most of the imputed learners
    assert learners.loc[imputed, "ctc"].value_counts(normalize=True).iloc[0] < 0.5

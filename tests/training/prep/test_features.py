"""The fit half of the features (training.prep.features): peer tables, tiers, fallbacks of small
groups, the frozen reference year. The one feature implementation both paths run is in
tests/training/runtime/test_features.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.config import TrainingSettings
from training.prep.features import (
    LearnerData,
    PayCells,
    build_learner_data,
    fit_pay_at_record,
    weighted_median,
)
from training.runtime.features import FEATURE_COLUMNS, PEER_SEP, learner_features


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


def _planted_pay_table(rng: np.random.Generator, n: int = 6_000) -> pd.DataFrame:
    """Raw rows whose pay depends on experience *at the record* and on the record year only:
    a CTC of 2015 is half of one of 2021 at the same experience then."""
    recorded = rng.choice([2015, 2021], size=n, p=[0.3, 0.7])
    # experience counted to 2022 mixes the two years: 2015 records of 7-14 years, 2021 ones of 1-15
    at_record = np.where(recorded == 2015, rng.integers(0, 8, size=n), rng.integers(0, 15, size=n))
    log_ctc = np.log(600_000) + 0.08 * at_record + np.where(recorded == 2015, np.log(0.5), 0.0)
    log_ctc += rng.normal(0.0, 0.15, size=n)
    return pd.DataFrame(
        {
            "company_hash": rng.choice([f"co {chr(97 + i)}" for i in range(20)], size=n),
            "email_hash": [f"{i:064x}" for i in range(n)],
            "orgyear": (recorded - at_record).astype(np.float64),
            "ctc": np.round(np.exp(log_ctc), -3),
            "job_position": "Backend Engineer",
            "ctc_updated_year": recorded.astype(np.float64),
        }
    )


def test_pay_from_2015_is_compared_with_2015_peers() -> None:
    raw = _planted_pay_table(np.random.default_rng(0))
    data = build_learner_data(raw, TrainingSettings(min_group_size=5))
    tables, learners = data.tables, data.learners
    years = np.arange(tables.pay_first_year, tables.pay_first_year + len(tables.pay_year_effect))
    effect = dict(zip(years.tolist(), tables.pay_year_effect, strict=True))
    assert effect[2021] == 0.0
    assert effect[2015] == pytest.approx(np.log(0.5), abs=0.05)
    steps = np.diff(tables.pay_experience_effect[:8])
    assert steps == pytest.approx(np.full(7, 0.08), abs=0.03)
    # a learner paid like its 2015 peers reads "at" its peers, as one of 2021 does
    pay = data.features["pay_vs_experience"]
    old = learners["ctc_updated_year"] == 2015
    assert abs(pay[old].median()) < 0.03
    assert abs(pay[~old].median()) < 0.03
    # against experience counted to the reference year alone, 2015 records would read far lower
    counted_now = data.features["years_experience"]
    by_now = np.log(learners["ctc"]).groupby(counted_now).transform("median")
    assert (np.log(learners["ctc"]) - by_now)[old].median() < -0.3


def test_pay_at_record_is_the_same_on_both_paths(small_data: LearnerData) -> None:
    learners = small_data.learners
    for year in (2015.0, 2018.0, 2021.0):
        position = int(np.flatnonzero(learners["ctc_updated_year"].to_numpy() == year)[0])
        row = learners.iloc[position]
        raw = {
            "company_hash": row["company"],
            "job_position": row["job_title"],
            "orgyear": row["orgyear"],
            "ctc": row["ctc"],
            "ctc_updated_year": row["ctc_updated_year"],
        }
        got = learner_features(raw, small_data.rules, small_data.tables)
        expected = small_data.features["pay_vs_experience"].iloc[position]
        assert got.features["pay_vs_experience"] == expected
        later = learner_features(
            {**raw, "ctc_updated_year": 2021.0}, small_data.rules, small_data.tables
        )
        if year < 2021.0:  # the same pay, recorded later, is worth less against its peers
            assert later.features["pay_vs_experience"] < expected


def test_median_polish_weights_cells_by_learners() -> None:
    cells = PayCells(
        at_record=np.array([0, 0, 1, 1, 2], np.int64),
        recorded=np.array([2020, 2021, 2020, 2021, 2021], np.int64),
        size=np.array([100, 100, 100, 100, 3], np.int64),
        median=np.array([13.0, 13.2, 13.1, 13.3, 20.0]),
    )
    pay = fit_pay_at_record(cells, min_size=5, population=13.0)
    assert pay.first_year == 2020
    assert pay.year_effect == pytest.approx([-0.2, 0.0])
    # experience 2 has only a 3-learner cell: it takes the nearest fitted experience's effect
    assert pay.experience_effect[2] == pay.experience_effect[1]
    assert pay.baseline + pay.experience_effect[1] == pytest.approx(13.3)
    assert weighted_median(np.array([1.0, 2.0, 10.0]), np.array([1.0, 1.0, 5.0])) == 10.0
    assert weighted_median(np.array([1.0, 2.0]), np.array([1.0, 1.0])) == 1.5


def test_a_small_company_is_not_put_in_a_tier_by_its_learners_own_pay() -> None:
    """Planted: 30 companies of 20 learners at spread pay levels, and two companies of 2 learners
    paid far above and far below everyone. The small companies' learners get no tier of their
    own pay: both count at the population's level, flagged unknown."""
    rng = np.random.default_rng(0)
    levels = np.linspace(np.log(400_000), np.log(2_500_000), 30)
    company = np.repeat([f"company {chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(30)], 20)
    log_ctc = np.repeat(levels, 20) + rng.normal(0.0, 0.1, company.size)
    company = np.concatenate([company, ["tiny high"] * 2, ["tiny low"] * 2])
    log_ctc = np.concatenate([log_ctc, np.log([20_000_000, 21_000_000, 60_000, 61_000])])
    n = company.size
    raw = pd.DataFrame(
        {
            "company_hash": company,
            "email_hash": [f"{i:064x}" for i in range(n)],
            "orgyear": 2016.0,
            "ctc": np.round(np.exp(log_ctc), -3),
            "job_position": "Backend Engineer",
            "ctc_updated_year": 2021.0,
        }
    )
    data = build_learner_data(raw, TrainingSettings(min_group_size=5))
    features, tables = data.features, data.tables
    small = data.learners["company"].isin(["tiny high", "tiny low"]).to_numpy()
    assert "tiny high" not in tables.company_median and "tiny low" not in tables.company_median
    assert (features.loc[small, "company_known"] == 0).all()
    population_tier = (
        len(tables.tier_edges) + 1 - np.searchsorted(tables.tier_edges, tables.population_median)
    )
    assert (features.loc[small, "company_tier"] == population_tier).all()
    # the same pay in a company of 20 learners is a company figure: the top and bottom tiers
    top = data.learners["company"] == "company bd"
    bottom = data.learners["company"] == "company aa"
    assert (features.loc[top, "company_tier"] == 1).all()
    assert (features.loc[bottom, "company_tier"] == len(tables.tier_edges) + 1).all()


def test_peer_medians_are_pandas_group_medians(small_data: LearnerData) -> None:
    learners, tables = small_data.learners, small_data.tables
    frame = learners.assign(log_ctc=np.log(learners["ctc"]))
    least = tables.min_group_size
    for key, medians in (("company", tables.company_median), ("job_title", tables.title_median)):
        stats = frame.groupby(key)["log_ctc"].agg(["size", "median"])
        expected = stats.loc[stats["size"] >= least, "median"]
        assert medians == {str(k): float(v) for k, v in expected.items()}
    assert tables.company_size == frame["company"].value_counts().sort_index().to_dict()
    pairs = frame.groupby(["company", "job_title"])["log_ctc"].agg(["size", "median"])
    assert tables.peer_median == {
        f"{company}{PEER_SEP}{title}": float(median)
        for (company, title), size, median in zip(
            pairs.index, pairs["size"], pairs["median"], strict=True
        )
        if size >= least
    }

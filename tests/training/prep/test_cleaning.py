"""The fit half of the cleaning rules (training.prep.cleaning): learned bounds, dedupe, one row per
learner. The apply half is in tests/training/runtime/test_cleaning.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from training.config import TrainingSettings
from training.prep.cleaning import clean_learners, code_values, collapse_learners, learner_ids
from training.runtime.cleaning import RULES


def _raw(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in ("company_hash", "email_hash", "job_position"):
        frame[column] = frame[column].astype(object)
    for column in ("orgyear", "ctc", "ctc_updated_year"):
        frame[column] = frame[column].astype(np.float64)
    return frame


def test_clean_learners_dedupes_and_keeps_history() -> None:
    rows = [
        # learner A: an exact duplicate, then two years; the latest titled record wins
        {"company_hash": "abc", "email_hash": "A", "orgyear": 2015, "ctc": 500_000,
         "job_position": "Backend Engineer", "ctc_updated_year": 2019},
        {"company_hash": "abc", "email_hash": "A", "orgyear": 2015, "ctc": 500_000,
         "job_position": "Backend Engineer", "ctc_updated_year": 2019},
        {"company_hash": "abc", "email_hash": "A", "orgyear": 2015, "ctc": 800_000,
         "job_position": "SDET", "ctc_updated_year": 2021},
        {"company_hash": "abc", "email_hash": "A", "orgyear": 2015, "ctc": 800_000,
         "job_position": None, "ctc_updated_year": 2021},
        # learner B: one record
        {"company_hash": "xyz", "email_hash": "B", "orgyear": 2010, "ctc": 2_000_000,
         "job_position": "Backend Engineer", "ctc_updated_year": 2020},
        # learner C: no usable CTC
        {"company_hash": "xyz", "email_hash": "C", "orgyear": 2010, "ctc": None,
         "job_position": "Backend Engineer", "ctc_updated_year": 2020},
    ]  # fmt: skip
    settings = TrainingSettings(
        min_title_learners=1, ctc_lower_quantile=0.0, ctc_upper_quantile=1.0
    )
    result = clean_learners(_raw(rows), settings)
    counts = result.report.counts()
    assert list(counts) == [name for name in RULES if name in counts]  # run order kept
    assert counts["exact_duplicates_dropped"] == 1
    assert counts["ctc_missing_dropped"] == 1
    assert counts["one_row_per_learner"] == 2
    assert result.report.rows_in == 6 and result.report.rows_out == 4
    assert result.report.learners == 2
    learners = result.learners.set_index("learner_id")
    assert list(learners.index) == ["A", "B"]
    a = learners.loc["A"]
    assert a["ctc"] == 800_000 and a["job_title"] == "SDET" and a["n_records"] == 3
    assert a["ctc_growth"] == pytest.approx(np.log(800_000 / 500_000) / 2)
    assert learners.loc["B", "n_records"] == 1 and learners.loc["B", "ctc_growth"] == 0
    assert result.rules.reference_year == 2022
    json.dumps(result.report.to_dict())  # JSON-serialisable


def test_learned_bounds_come_from_settings(small_raw: pd.DataFrame) -> None:
    wide = clean_learners(small_raw, TrainingSettings(ctc_plausible_min=1, ctc_upper_quantile=1.0))
    tight = clean_learners(
        small_raw, TrainingSettings(ctc_plausible_min=400_000, ctc_upper_quantile=0.95)
    )
    assert (wide.rules.ctc_min, tight.rules.ctc_min) == (1, 400_000)
    assert tight.rules.ctc_high < wide.rules.ctc_high
    counts, wide_counts = tight.report.counts(), wide.report.counts()
    assert counts["ctc_implausible_imputed"] > wide_counts["ctc_implausible_imputed"]
    assert counts["ctc_above_bound_lowered"] > wide_counts["ctc_above_bound_lowered"] == 0
    later = clean_learners(small_raw, TrainingSettings(orgyear_min=2000))
    assert (
        later.report.counts()["orgyear_implausible_imputed"]
        > wide.report.counts()["orgyear_implausible_imputed"]
    )
    fixed = clean_learners(small_raw, TrainingSettings(reference_year=2030))
    assert fixed.rules.reference_year == 2030


def test_duplicates_are_the_rows_pandas_drops(small_raw: pd.DataFrame) -> None:
    # Missing values repeat too: two rows that differ only where both are missing are identical.
    holes = small_raw.head(500).assign(orgyear=np.nan)
    holes.loc[::2, "job_position"] = None
    raw = pd.concat([small_raw, holes, holes], ignore_index=True)
    counts = clean_learners(raw, TrainingSettings()).report.counts()
    dropped = len(raw) - len(raw.drop_duplicates())
    assert dropped >= len(holes)
    assert counts["exact_duplicates_dropped"] == dropped


def test_collapse_numbers_learners_itself_and_takes_no_rows() -> None:
    rng = np.random.default_rng(0)
    n = 300
    rows = pd.DataFrame(
        {
            "learner_id": rng.choice(["b", "a", "row-7", "c"], n).astype(object),
            "ctc": rng.uniform(4e5, 4e6, n),
            "ctc_updated_year": rng.integers(2015, 2021, n).astype(np.float64),
            "has_title": rng.random(n) < 0.7,
            "order": rng.permutation(n),
            "position": np.arange(n),
        }
    )
    own = collapse_learners(rows)
    given = collapse_learners(rows, code_values(rows["learner_id"].to_numpy(), sort=True).codes)
    pd.testing.assert_frame_equal(own, given)
    assert list(own.columns) == [
        "learner_id", "ctc", "ctc_updated_year", "position", "n_records", "ctc_growth"
    ]  # fmt: skip
    for learner in own.itertuples():
        mine = rows[rows["learner_id"] == learner.learner_id]
        latest = mine.sort_values(["ctc_updated_year", "has_title", "order"]).iloc[-1]
        assert (learner.position, learner.n_records) == (latest["position"], len(mine))
    assert own["position"].map(rows["order"]).is_monotonic_increasing  # file order
    empty = collapse_learners(rows.head(0))
    assert empty.empty and list(empty.columns) == list(own.columns)


def test_learner_ids_of_coded_and_plain_emails_agree() -> None:
    email = np.array(["a" * 64, None, "A" * 64, "", "a" * 64, "short"], dtype=object)
    rows = np.arange(10, 16)
    ids, malformed = learner_ids(email, rows)
    assert ids.tolist() == ["a" * 64, "row-11", "A" * 64, "row-13", "a" * 64, "short"]
    assert malformed.tolist() == [False, True, True, True, False, True]
    coded_ids, coded_malformed = learner_ids(code_values(email), rows)
    assert coded_ids.tolist() == ids.tolist()
    assert coded_malformed.tolist() == malformed.tolist()

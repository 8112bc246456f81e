"""The data-quality summary of a raw table (training.data.inspect): what ``inspect`` reports."""

from __future__ import annotations

import json

import pandas as pd

from training.config import TrainingSettings
from training.data.inspect import summarize_table


def test_summary_of_the_real_rows(real_raw: pd.DataFrame, settings: TrainingSettings) -> None:
    summary = summarize_table(real_raw, settings)
    assert summary["rows"] == 116
    assert summary["nulls"]["job_position"] == 33
    assert summary["duplicates"]["emails_seen_more_than_once"] == 7
    counts = {rule["name"]: rule["count"] for rule in summary["cleaning"]["rules"]}
    assert counts["orgyear_implausible_imputed"] >= 25
    assert counts["ctc_implausible_imputed"] == 3  # CTC 1,000, 12,600 and 24,000
    cleaned = summary["cleaned"]
    assert cleaned["learners"] == 99
    assert cleaned["reference_year"] == 2022
    assert list(cleaned["years_experience"]) == ["p10", "p25", "p50", "p75", "p90"]
    assert cleaned["ctc"]["p10"] <= cleaned["ctc"]["p50"] <= cleaned["ctc"]["p90"]


def test_summary_is_json_and_lists_the_commonest_values(
    real_raw: pd.DataFrame, settings: TrainingSettings
) -> None:
    summary = summarize_table(real_raw, settings, top=3)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["columns"] == list(real_raw.columns)
    assert summary["learners_raw"] == real_raw["email_hash"].nunique()
    titles = real_raw["job_position"].value_counts()
    assert list(summary["top_job_positions"].values()) == titles.head(3).tolist()
    assert len(summary["top_companies"]) == 3
    assert list(summary["top_companies"].values()) == sorted(
        summary["top_companies"].values(), reverse=True
    )
    families = summary["cleaned"]["tracks"]
    assert 0 < len(families) <= 20 and sum(families.values()) == summary["cleaned"]["learners"]

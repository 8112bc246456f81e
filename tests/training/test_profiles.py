"""Segment profiles (training.profiles) of a trained model: unique names, 2-4 recommendations,
figures consistent with each other and with the segment sizes, and how much of each segment rests
on missing or imputed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training import profiles as profiling
from training.features import LearnerData
from training.pipeline import TrainingResult


def test_profiles_describe_every_segment(trained_small: TrainingResult) -> None:
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    segments = profiles["segments"]
    assert [s["id"] for s in segments] == list(range(trained_small.k))
    assert sum(s["size"] for s in segments) == trained_small.learners
    assert len({s["name"] for s in segments}) == len(segments)
    for s in segments:
        assert len(s["recommendations"]) <= 3
        assert s["recommendations"] == [a["text"] for a in s["actions"]]
        assert [w["word"] for w in s["name_words"]][:2] == s["name"].split(", ")[:2]
        assert s["ctc_inr"]["p10"] <= s["ctc_inr"]["p50"] <= s["ctc_inr"]["p90"]
        assert s["center"]["ctc_lpa"] == pytest.approx(s["center"]["ctc_inr"] / 1e5, abs=0.01)
        assert s["nearest_segment"]["id"] != s["id"]
        assert "match" in s["hierarchical_match"]
        assert s["top_role_families"] and s["company_tiers"]
    coarse = profiles["coarse"]
    assert 2 <= len(coarse) <= 3
    assert sorted(x for c in coarse for x in c["segments"]) == list(range(trained_small.k))
    assert sum(c["size"] for c in coarse) == trained_small.learners


def test_data_quality_compares_missing_titles_with_the_experience_mix(
    small_data: LearnerData,
) -> None:
    """The expected share of learners without a title is the population's rate in each
    experience band (0-2, 3-4, 5-6, 7-9, 10-13, 14+ years), weighted by the group's learners."""
    learners, features = small_data.learners, small_data.features
    years = features["years_experience"].to_numpy()
    no_title = learners["job_title"].isna().to_numpy()
    band = np.digitize(years, [3, 5, 7, 10, 14])  # the bands, computed another way
    rate = {b: no_title[band == b].mean() for b in np.unique(band)}
    juniors = years < 5  # a group skewed to the bands where titles go missing most
    ordered = np.sort(learners["ctc"].to_numpy(np.float64))
    group = profiling.group_figures(juniors, learners, features, population_ctc=ordered)
    population = profiling.population_figures(learners, features)
    quality = profiling.data_quality(group, population)

    expected = np.mean([rate[b] for b in band[juniors]])
    assert quality["no_title_expected_share"] == pytest.approx(expected, abs=1e-4)
    assert quality["no_title_share"] == pytest.approx(no_title[juniors].mean(), abs=1e-4)
    assert quality["no_title_ratio"] == pytest.approx(no_title[juniors].mean() / expected, abs=1e-3)
    assert quality["ctc_imputed_share"] == pytest.approx(
        learners["ctc_imputed"].to_numpy(bool)[juniors].mean(), abs=1e-4
    )
    assert quality["company_imputed_share"] == pytest.approx(
        (features["company_known"].to_numpy()[juniors] == 0).mean(), abs=1e-4
    )
    # The whole population holds exactly the untitled learners its experience explains.
    everyone = profiling.group_figures(
        np.ones(len(learners), bool), learners, features, population_ctc=ordered
    )
    assert profiling.data_quality(everyone, population)["no_title_ratio"] == 1.0


def test_every_profile_carries_its_data_quality(trained_small: TrainingResult) -> None:
    segments = json.loads((trained_small.folder / "profiles.json").read_text())["segments"]
    imputed = 0.0
    for s in segments:
        quality = s["data_quality"]
        assert set(quality) == {
            "no_title_share",
            "no_title_expected_share",
            "no_title_ratio",
            "ctc_imputed_share",
            "company_imputed_share",
        }
        assert 0 <= quality["ctc_imputed_share"] <= 1 and quality["no_title_ratio"] >= 0
        imputed += quality["ctc_imputed_share"] * s["size"]
    assert imputed > 0  # the small table has CTCs that are not salaries, and they are counted

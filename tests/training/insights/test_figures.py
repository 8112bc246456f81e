"""The figures a profile is made from (training.insights.figures): experience bands, how much of
a group rests on missing or imputed values against what its experience explains, and company
tiers that count only learners whose company is known (whether the model imputes an unknown
company's tier or leaves it empty)."""

from __future__ import annotations

import numpy as np
import pytest

from training.insights.figures import (
    EXPERIENCE_BAND_LABELS,
    data_quality,
    experience_band,
    group_figures,
    population_figures,
)
from training.prep.features import LearnerData


def test_experience_bands_start_at_their_lower_edge() -> None:
    years = np.array([0.0, 2.9, 3.0, 4.5, 5.0, 7.0, 9.9, 10.0, 13.9, 14.0, 40.0])
    bands = experience_band(years)
    assert [EXPERIENCE_BAND_LABELS[b] for b in bands] == [
        "0-2", "0-2", "3-4", "3-4", "5-6", "7-9", "7-9", "10-13", "10-13", "14+", "14+",
    ]  # fmt: skip


def test_data_quality_compares_missing_titles_with_the_experience_mix(
    small_data: LearnerData,
) -> None:
    """The expected share of learners without a title is the population's rate in each
    experience band (0-2, 3-4, 5-6, 7-9, 10-13, 14+ years), weighted by the group's learners."""
    learners, features = small_data.learners, small_data.features
    years = features["years_experience"].to_numpy()
    no_title = learners["job_title"].isna().to_numpy()
    band = np.digitize(years, [3, 5, 7, 10, 14])  # the same bands, computed another way
    rate = {b: no_title[band == b].mean() for b in np.unique(band)}
    juniors = years < 5  # a group skewed to the bands where titles go missing most
    ordered = np.sort(learners["ctc"].to_numpy(np.float64))
    group = group_figures(juniors, learners, features, population_ctc=ordered)
    population = population_figures(learners, features)
    quality = data_quality(group, population)

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
    everyone = group_figures(
        np.ones(len(learners), bool), learners, features, population_ctc=ordered
    )
    assert data_quality(everyone, population)["no_title_ratio"] == 1.0


def test_the_whole_population_as_a_group_has_the_population_s_counts(
    small_data: LearnerData,
) -> None:
    learners, features = small_data.learners, small_data.features
    ordered = np.sort(learners["ctc"].to_numpy(np.float64))
    everyone = group_figures(
        np.ones(len(learners), bool), learners, features, population_ctc=ordered
    )
    population = population_figures(learners, features)
    assert everyone.size == population.size == len(learners)
    for name in (
        "incomplete", "tracks", "company_tiers", "experience_bands", "ctc_imputed",
        "company_imputed", "flags", "ctc_years", "below_experience", "above_experience",
        "company_unnamed", "company_known",
    ):  # fmt: skip
        assert getattr(everyone, name) == getattr(population, name), name
    assert everyone.ctc_rank >= population.size // 2  # the median ranks in the upper half
    assert len(everyone.top_companies) == 5
    assert all(inside == total for _, inside, total in everyone.top_companies)


@pytest.mark.parametrize("unknown_tier", ["imputed", "empty"])
def test_company_tiers_count_only_learners_whose_company_is_known(
    unknown_tier: str, small_data: LearnerData
) -> None:
    learners, features = small_data.learners, small_data.features.copy()
    known = features["company_known"].to_numpy() == 1
    assert 0.1 < (~known).mean() < 0.6  # the table has unknown companies to leave out
    if unknown_tier == "empty":  # a model that leaves an unknown company's tier out
        features.loc[~known, "company_tier"] = np.nan
    ordered = np.sort(learners["ctc"].to_numpy(np.float64))
    juniors = features["years_experience"].to_numpy() < 5
    group = group_figures(juniors, learners, features, population_ctc=ordered)
    population = population_figures(learners, features)
    tier = features["company_tier"].to_numpy()
    for figures, members in ((group, juniors), (population, np.ones(len(known), bool))):
        inside = members & known
        assert figures.company_known == inside.sum()
        assert figures.company_tiers == {
            f"tier {t}": int((tier[inside] == t).sum())
            for t in (1, 2, 3)
            if (tier[inside] == t).any()
        }
        assert figures.company_imputed == (members & ~known).sum()
        assert figures.company_unnamed == (members & learners["company"].isna().to_numpy()).sum()
    pay = features["pay_vs_experience"].to_numpy()
    assert group.above_experience == (pay[juniors] >= np.log(1.25)).sum()
    assert group.below_experience == (pay[juniors] <= -np.log(1.25)).sum()

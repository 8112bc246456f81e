"""What sets a segment apart (training.insights.facts): each figure scored by its z-score against
all learners, the most distinctive first, none when the segment is like all learners; a tier
share counts known companies only and says how many, a share of few learners is no fact; facts
are plain text with their glossary words marked."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from training.insights.facts import DISTINCT_Z, Fact, Term, distinctive_facts
from training.insights.figures import FEW_LEARNERS, MIN_KNOWN_SHARE
from training.run import TrainingResult


@pytest.fixture(scope="module")
def trained_profiles(trained_small: TrainingResult) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((trained_small.folder / "profiles.json").read_text())
    return doc


@pytest.fixture
def ordinary(trained_profiles: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A segment like all learners on every figure, and all learners."""
    population = copy.deepcopy(trained_profiles["population"])
    segment = copy.deepcopy(trained_profiles["segments"][0])
    segment["feature_z"] = dict.fromkeys(segment["feature_z"], 0.0)
    population["company_tier_shares"] = {"tier 1": 0.26, "tier 2": 0.38, "tier 3": 0.36}
    population["company_known_share"] = 0.71
    segment["company_tier_shares"] = dict(population["company_tier_shares"])
    segment["company_known"], segment["company_known_share"] = 1_000, 0.61
    for flag in segment["peer_flags"].values():
        flag.update(above=0.3, at=0.4, below=0.3)
    population["peer_flags"] = copy.deepcopy(segment["peer_flags"])
    segment["below_experience_share"] = population["below_experience_share"] = 0.1
    segment["top_tracks"] = []
    return segment, population


def test_what_sets_a_segment_apart_is_its_most_distant_figure(
    ordinary: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    segment, population = ordinary
    assert distinctive_facts(segment, population) == []  # like all learners on every figure
    segment["company_tier_shares"] = {"tier 1": 0.93, "tier 2": 0.05, "tier 3": 0.02}
    facts = distinctive_facts(segment, population)
    assert [fact.text.replace("\u00a0", " ") for fact in facts] == [
        "93 % of the 61 % whose company is known at tier-1 (best-paying) companies "
        "(all learners: 26 % of the 71 % whose company is known)"
    ]
    assert facts[0].score == pytest.approx((0.93 - 0.26) / (0.26 * 0.74) ** 0.5)
    segment["company_known"] = FEW_LEARNERS - 1  # too few known companies to say it
    assert distinctive_facts(segment, population) == []
    del segment["company_known"]  # a model from before: its tiers counted unknown companies
    assert distinctive_facts(segment, population) == []


def test_facts_are_ranked_by_their_z_score_and_cut_at_the_threshold(
    ordinary: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    segment, population = ordinary
    segment["feature_z"]["years_experience"] = -DISTINCT_Z  # exactly at the threshold
    segment["feature_z"]["log_ctc"] = 1.5
    # the share of known titles, as names and cards quote it (never the share of the segment)
    segment["known_titles"] = 100
    segment["track_shares_known"] = {"data": 0.5, "unknown": 0.3}  # unknown: never a fact
    population["tracks_known"] = {"data": 0.25, "unknown": 0.05}
    facts = distinctive_facts(segment, population, top=5)
    assert [f.score for f in facts] == sorted((f.score for f in facts), key=abs, reverse=True)
    assert len(facts) == 3 and all(abs(f.score) >= DISTINCT_Z for f in facts)
    assert facts[0].text.startswith("median pay ") and facts[0].text.endswith(
        " percentile of all learners"
    )
    assert Term("percentile", "percentile") in facts[0].pieces
    assert facts[1].text == ("Data & ML 50\u00a0% of known titles (all learners: 25\u00a0%), 2.00x")
    assert facts[2].text.startswith("median ") and "years of experience" in facts[2].text
    assert distinctive_facts(segment, population) == facts[:2]
    segment["known_titles"] = FEW_LEARNERS  # 15 known data titles: no fact
    assert "Data & ML" not in " ".join(
        f.text for f in distinctive_facts(segment, population, top=5)
    )


def test_a_fact_reads_as_its_pieces() -> None:
    fact = Fact(1.0, ("the ", Term("lift", "lift"), " is 2"))
    assert fact.text == "the lift is 2"


def test_a_tier_fact_needs_most_of_the_segment_s_companies_known(
    ordinary: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    segment, population = ordinary
    segment["company_tier_shares"] = {"tier 1": 0.05, "tier 2": 0.9, "tier 3": 0.05}
    segment["company_known_share"] = MIN_KNOWN_SHARE
    (fact,) = distinctive_facts(segment, population)
    assert "of the 50 % whose company is known at tier-2 (mid-paying) companies" in (
        fact.text.replace("\u00a0", " ")
    )
    assert Term("tier", "tier-2 (mid-paying)") in fact.pieces  # linked to the glossary
    segment["company_known_share"] = 0.47  # most companies unknown: no word on tiers
    assert distinctive_facts(segment, population) == []

"""Segment profiles (training.insights.profiles) of a trained model: unique names, at most 3
actions or the reason for none, figures consistent with each other and with the segment sizes,
company tiers among known companies only (their shares and z-score), how much of each segment
rests on missing or imputed values, and the profiles.json document around them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from training.insights.actions import summary_actions
from training.insights.figures import group_figures, population_figures
from training.insights.profiles import (
    mirror_single_members,
    population_summary,
    profile_from_figures,
    profiles_document,
)
from training.prep.features import LearnerData
from training.run import TrainingResult
from training.runtime.features import FEATURE_COLUMNS


def test_profiles_describe_every_segment(trained_small: TrainingResult) -> None:
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    segments = profiles["segments"]
    assert [s["id"] for s in segments] == list(range(trained_small.k))
    assert sum(s["size"] for s in segments) == trained_small.learners
    assert len({s["name"] for s in segments}) == len(segments)
    for s in segments:
        assert len(s["recommendations"]) <= 3
        assert s["recommendations"] == [a["text"] for a in s["actions"]]
        assert (s["no_action"] is None) == bool(s["actions"])
        assert [w["word"] for w in s["name_words"]] == s["name"].split(", ")[: len(s["name_words"])]
        assert s["ctc_inr"]["p10"] <= s["ctc_inr"]["p50"] <= s["ctc_inr"]["p90"]
        assert s["center"]["ctc_lpa"] == pytest.approx(s["center"]["ctc_inr"] / 1e5, abs=0.01)
        assert s["nearest_segment"]["id"] != s["id"]
        assert "match" in s["hierarchical_match"]
        assert s["top_tracks"] and s["company_tiers"]
    coarse = profiles["coarse"]
    for c in coarse:
        assert c["actions"] or c["no_action"]  # every macro-segment acts or says why not
    assert 2 <= len(coarse) <= 3
    assert sorted(x for c in coarse for x in c["segments"]) == list(range(trained_small.k))
    assert sum(c["size"] for c in coarse) == trained_small.learners


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
            "company_unnamed_share",
        }
        assert 0 <= quality["ctc_imputed_share"] <= 1 and quality["no_title_ratio"] >= 0
        imputed += quality["ctc_imputed_share"] * s["size"]
    assert imputed > 0  # the small table has CTCs that are not salaries, and they are counted


def test_a_profile_compares_its_group_with_all_learners(small_data: LearnerData) -> None:
    """z-scores are the group's mean against all learners' in their spread; shares add up."""
    learners, features = small_data.learners, small_data.features
    juniors = features["years_experience"].to_numpy() < 5
    ordered = np.sort(learners["ctc"].to_numpy(np.float64))
    population = population_figures(learners, features)
    profile = profile_from_figures(
        group_figures(juniors, learners, features, population_ctc=ordered), population
    )
    assert profile["size"] == juniors.sum()
    assert profile["share"] == pytest.approx(juniors.mean(), abs=1e-4)
    for name in FEATURE_COLUMNS:
        if name == "company_tier":
            continue  # known companies only (below)
        spread = features[name].std(ddof=0) or 1.0
        expected = (features[name][juniors].mean() - features[name].mean()) / spread
        assert profile["feature_z"][name] == pytest.approx(expected, abs=1e-3), name
    assert profile["feature_z"]["years_experience"] < 0  # juniors
    assert sum(profile["experience_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    # tiers: shares of the learners whose company is known, and how many that is
    known = (features["company_known"] == 1).to_numpy()
    assert profile["company_known"] == (juniors & known).sum()
    assert profile["company_known_share"] == pytest.approx((known[juniors]).mean(), abs=1e-4)
    assert sum(profile["company_tier_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    tier = features["company_tier"].to_numpy()
    for t in (1, 2, 3):
        expected = (tier[juniors & known] == t).mean()
        assert profile["company_tier_shares"].get(f"tier {t}", 0.0) == pytest.approx(
            expected, abs=1e-4
        )
    spread = tier[known].std()
    expected_z = (tier[juniors & known].mean() - tier[known].mean()) / spread
    assert profile["feature_z"]["company_tier"] == pytest.approx(expected_z, abs=1e-3)
    for flags in profile["peer_flags"].values():
        assert sum(flags.values()) <= 1.0 + 1e-3
    assert profile["experience_shares"]["10-13"] == profile["experience_shares"]["14+"] == 0.0


def test_the_document_holds_the_population_the_summary_and_the_mix_by_year(
    trained_small: TrainingResult, small_data: LearnerData
) -> None:
    doc = json.loads((trained_small.folder / "profiles.json").read_text())
    segments, coarse = doc["segments"], doc["coarse"]
    population = population_figures(small_data.learners, small_data.features)
    rebuilt = profiles_document(trained_small.k, segments, coarse, population)
    assert rebuilt["population"] == population_summary(population)
    assert [s["id"] for s in rebuilt["summary"]["segments"]] == [
        s["id"] for s in sorted(segments, key=lambda s: (-s["size"], s["id"]))
    ]
    assert rebuilt["summary"]["actions"] == summary_actions(segments, coarse)
    for year, counts in rebuilt["by_year"].items():
        assert counts == {str(s["id"]): s["ctc_years"].get(year, 0) for s in segments}
    assert sum(sum(c.values()) for c in rebuilt["by_year"].values()) == trained_small.learners


def test_the_trained_summary_follows_the_model_s_stability(trained_small: TrainingResult) -> None:
    """profiles.json's summary is summary_actions of its own segments and recorded stability."""
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    manifest = json.loads((trained_small.folder / "manifest.json").read_text())
    jaccard = {int(i): v for i, v in manifest["metrics"]["stability"]["jaccard"].items()}
    expected = summary_actions(profiles["segments"], profiles["coarse"], jaccard)
    assert profiles["summary"]["actions"] == expected


def _macro(cid: int, members: list[int], action: str | None) -> dict[str, Any]:
    actions = [] if action is None else [{"rule": "x", "text": action, "reach": 9}]
    return {
        "id": cid,
        "segments": members,
        "name": f"Macro {cid}",
        "name_words": [],
        "actions": actions,
        "recommendations": [a["text"] for a in actions],
        "no_action": None if actions else "No rule fires.",
    }


def test_a_macro_segment_of_one_segment_is_that_segment() -> None:
    segments = [
        {
            "id": 0,
            "name": "Tier-1 companies",
            "name_words": [{"word": "Tier-1 companies"}],
            "actions": [],
            "no_action": "Its programmes went elsewhere.",
        },
        {
            "id": 1,
            "name": "Senior",
            "name_words": [{"word": "Senior"}],
            "actions": [{"rule": "senior_top_pay", "text": "Offer mentoring.", "reach": 5}],
        },
        {"id": 2, "name": "Early-career", "name_words": [], "actions": []},
    ]
    coarse = [
        _macro(0, [0], "Offer interview preparation."),  # would repeat (or contradict) segment 0
        _macro(1, [1], None),
        _macro(2, [2], None),
        _macro(3, [0, 2], "Offer a profile update."),
    ]
    coarse[3]["segments"] = [0, 2]
    mirror_single_members(coarse, segments)
    alone_without, alone_with = coarse[0], coarse[1]
    assert alone_without["name"] == "Tier-1 companies"
    assert alone_without["actions"] == [] and alone_without["recommendations"] == []
    assert alone_without["no_action"] == (
        "It is segment 0 alone: see segment 0 (its actions, or why it has none)."
    )
    assert alone_with["name"] == "Senior" and alone_with["actions"] == segments[1]["actions"]
    assert alone_with["no_action"] is None and alone_with["recommendations"] == ["Offer mentoring."]
    merged = coarse[3]  # two segments: its own name and action, untouched
    assert merged["name"] == "Macro 3" and merged["recommendations"] == ["Offer a profile update."]


def test_the_trained_macro_segments_of_one_segment_mirror_it(
    trained_small: TrainingResult,
) -> None:
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    by_id = {s["id"]: s for s in profiles["segments"]}
    for macro in profiles["coarse"]:
        if len(macro["segments"]) == 1:
            member = by_id[macro["segments"][0]]
            assert macro["name"] == member["name"] and macro["actions"] == member["actions"]


def test_stored_method_caveat_is_the_report_s_sentence(trained_small: TrainingResult) -> None:
    """The sentence the service and the explorer serve for a segment the second method does not
    find (merged with others or split) is the one the report writes from the manifest: the
    stored profiles as trained, then every segment made one the second method misses."""
    from training.insights.profiles import _warn_split
    from training.report.page import _method_caveat
    from training.runtime.artifacts import MANIFEST_FILE, PROFILES_JSON

    folder = trained_small.folder
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    profiles = json.loads((folder / PROFILES_JSON).read_text(encoding="utf-8"))["segments"]
    for segment in profiles:
        assert segment["method_caveat"] == _method_caveat(segment, manifest)
    for segment in profiles:
        segment["hierarchical_match"]["jaccard"] = 0.3
    _warn_split(profiles, manifest["metrics"]["comparison"])
    for segment in profiles:
        assert segment["method_caveat"], segment["id"]
        assert segment["method_caveat"] == _method_caveat(segment, manifest)
    _warn_split(profiles)  # without the comparison: the plain sentence, not the report's
    assert any(s["method_caveat"] != _method_caveat(s, manifest) for s in profiles)

"""Segment profiles (training.insights.profiles) of a trained model: unique names, 2-4
recommendations, figures consistent with each other and with the segment sizes, and how much of
each segment rests on missing or imputed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.insights import profiles as profiling
from training.prep.features import LearnerData
from training.run import TrainingResult


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


def _action(rule: str, reach: int) -> dict[str, object]:
    return {"rule": rule, "text": f"do {rule}", "reach": reach}


#: Segments 0 and 1 share macro-segment 0; segment 2 and segment 3 are alone in theirs.
SEGMENTS = [
    {
        "id": 0,
        "name": "A",
        "coarse_segment_id": 0,
        "actions": [_action("a0", 50), _action("a1", 9)],
    },
    {"id": 1, "name": "B", "coarse_segment_id": 0, "actions": [_action("b", 30)]},
    {"id": 2, "name": "C", "coarse_segment_id": 1, "actions": [_action("c", 20)]},
    {"id": 3, "name": "D", "coarse_segment_id": 2, "actions": [_action("d", 25)]},
]
COARSE = [
    {"id": 0, "name": "AB", "segments": [0, 1], "actions": [_action("ab", 70), _action("x", 5)]},
    {"id": 1, "name": "C", "segments": [2], "actions": [_action("c", 20)]},
    {"id": 2, "name": "D", "segments": [3], "actions": [_action("d", 25)]},
]


def test_a_segment_that_does_not_come_back_is_acted_on_through_its_macro_segment() -> None:
    """Segment 0 dissolves (0.55) and shares its macro-segment: the macro-segment's action of
    the widest reach stands in for it in the summary. Segment 3 is doubtful (0.6) but alone
    in its macro-segment, so it keeps its own (the report says to act on it with care)."""
    jaccard = {0: 0.55, 1: 0.9, 2: 0.9, 3: 0.6}
    assert profiling.acted_through_coarse(SEGMENTS, COARSE, jaccard) == {0: 0}
    actions = profiling.summary_actions(SEGMENTS, COARSE, jaccard)
    assert [
        (a["level"], a["segment_id"], a.get("coarse_segment_id"), a["rule"]) for a in actions
    ] == [
        ("macro-segment", None, 0, "ab"),
        ("segment", 1, None, "b"),
        ("segment", 3, None, "d"),
    ]
    assert actions[0]["segment_name"] == "AB" and actions[0]["segments"] == [0, 1]
    assert actions[0]["reach"] == 70 and actions[0]["text"] == "do ab"


def test_without_stability_or_with_stable_segments_each_segment_offers_its_own() -> None:
    for jaccard in (None, {}, {0: 0.75, 1: 0.9, 2: 0.9, 3: 0.95}):
        assert profiling.acted_through_coarse(SEGMENTS, COARSE, jaccard) == {}
        actions = profiling.summary_actions(SEGMENTS, COARSE, jaccard)
        assert [(a["level"], a["segment_id"], a["rule"]) for a in actions] == [
            ("segment", 0, "a0"),
            ("segment", 1, "b"),
            ("segment", 3, "d"),
        ]


def test_on_equal_reach_the_segment_comes_before_the_macro_segment() -> None:
    segments = [dict(s) for s in SEGMENTS]
    segments[1] = {**segments[1], "actions": [_action("b", 70)]}
    actions = profiling.summary_actions(segments, COARSE, {0: 0.5, 1: 0.9, 2: 0.9, 3: 0.9})
    assert [a["rule"] for a in actions] == ["b", "ab", "d"]


def test_the_trained_summary_follows_the_model_s_stability(trained_small: TrainingResult) -> None:
    """profiles.json's summary is summary_actions of its own segments and recorded stability."""
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    manifest = json.loads((trained_small.folder / "manifest.json").read_text())
    jaccard = {int(i): v for i, v in manifest["metrics"]["stability"]["jaccard"].items()}
    expected = profiling.summary_actions(profiles["segments"], profiles["coarse"], jaccard)
    assert profiles["summary"]["actions"] == expected

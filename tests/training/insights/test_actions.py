"""The recommendation catalogue (training.insights.actions): each rule fires at its threshold and
stays silent below it, on crafted profiles; its text quotes the figure; the choice across segments
keeps at most 3 actions a segment and one rule in at most 2 segments; thresholds are settings; the
three actions to take first stand a macro-segment in for a segment that may not come back."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from training.config import TrainingSettings
from training.insights.actions import (
    CATALOGUE,
    DEFAULT_THRESHOLDS,
    acted_through_coarse,
    assign_actions,
    fired_actions,
    first_action,
    recommend_profiles,
    summary_actions,
)

POPULATION: dict[str, Any] = {
    "years_experience": {"p25": 4.0, "p50": 6.0, "p75": 9.0},
    "ctc_inr": {"p25": 560_000, "p50": 950_000, "p75": 1_700_000},
    "stale_ctc_year": 2018,
}


def _quiet_profile(size: int = 1_000) -> dict[str, Any]:
    """A segment on which no rule fires: every figure well under every threshold."""
    return {
        "id": 0,
        "size": size,
        "center": {"years_experience": 6.0},
        "peer_flags": {"designation": {"above": 0.3, "at": 0.4, "below": 0.3}},
        "experience_shares": {"0-2": 0.1},
        "pay_quartile_shares": {"bottom": 0.2, "top": 0.2},
        "below_experience_share": 0.1,
        "company_tier_shares": {"tier 1": 0.3, "tier 2": 0.4, "tier 3": 0.3},
        "dominant_track": {"name": "backend", "share": 0.3, "lift": 1.0},
        "known_titles": 800,
        "ctc_years": {"2019": 500, "2020": 500},
        "data_quality": {"no_title_share": 0.2},
    }


def _set(path: tuple[str, ...]) -> Callable[[dict[str, Any], float], None]:
    def setter(profile: dict[str, Any], value: float) -> None:
        node = profile
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return setter


def _stale(profile: dict[str, Any], value: float) -> None:
    stale = round(value * profile["size"])
    profile["ctc_years"] = {"2017": stale, "2020": profile["size"] - stale}


def _senior_top(profile: dict[str, Any], value: float) -> None:
    profile["center"]["years_experience"] = 10.0
    profile["pay_quartile_shares"]["top"] = value


SETTERS: dict[str, Callable[[dict[str, Any], float], None]] = {
    "below_peers": _set(("peer_flags", "designation", "below")),
    "above_peers": _set(("peer_flags", "designation", "above")),
    "early_career": _set(("experience_shares", "0-2")),
    "low_pay": _set(("pay_quartile_shares", "bottom")),
    "below_experience": _set(("below_experience_share",)),
    "lower_paying_companies": _set(("company_tier_shares", "tier 3")),
    "mid_tier_companies": _set(("company_tier_shares", "tier 2")),
    "senior_top_pay": _senior_top,
    "role_track": _set(("dominant_track", "lift")),
    "stale_pay": _stale,
    "missing_titles": _set(("data_quality", "no_title_share")),
}


def test_every_rule_of_the_catalogue_is_exercised() -> None:
    assert set(SETTERS) == {rule.id for rule in CATALOGUE} == set(DEFAULT_THRESHOLDS)


def test_no_rule_fires_on_an_ordinary_segment() -> None:
    assert fired_actions(_quiet_profile(), POPULATION, DEFAULT_THRESHOLDS) == []


@pytest.mark.parametrize("rule", [rule.id for rule in CATALOGUE])
def test_each_rule_fires_at_its_threshold_and_quotes_its_figure(rule: str) -> None:
    threshold = DEFAULT_THRESHOLDS[rule]
    above = _quiet_profile()
    SETTERS[rule](above, threshold + 0.05)
    below = _quiet_profile()
    SETTERS[rule](below, threshold - 0.05)

    fired = fired_actions(above, POPULATION, DEFAULT_THRESHOLDS)
    assert [a.rule for a in fired] == [rule]
    action = fired[0]
    assert action.figure == pytest.approx(threshold + 0.05, abs=1e-3)
    quoted = f"{action.figure:.1f}x" if rule == "role_track" else f"{100 * action.figure:.0f} %"
    assert quoted in action.text
    assert action.score == pytest.approx(action.reach * action.figure / threshold)
    assert fired_actions(below, POPULATION, DEFAULT_THRESHOLDS) == []


def test_senior_top_pay_needs_a_senior_segment() -> None:
    profile = _quiet_profile()
    profile["pay_quartile_shares"]["top"] = 0.9  # top pay, but median experience 6 < p75 9
    assert [a.rule for a in fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS)] == []


def test_a_threshold_from_the_settings_moves_the_rule() -> None:
    profile = _quiet_profile()
    SETTERS["below_peers"](profile, 0.55)
    strict = TrainingSettings(recommendation_thresholds={"below_peers": 0.7})
    assert strict.recommendation_thresholds == {**DEFAULT_THRESHOLDS, "below_peers": 0.7}
    assert fired_actions(profile, POPULATION, strict.recommendation_thresholds) == []
    assert fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS)


def test_unknown_rules_in_the_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="Unknown recommendation rules: cheer_up; choose"):
        TrainingSettings(recommendation_thresholds={"cheer_up": 0.1})


def test_a_rule_goes_to_at_most_two_segments_where_it_reaches_most() -> None:
    profiles = []
    for i, (size, below) in enumerate([(1_000, 0.6), (5_000, 0.7), (3_000, 0.9), (800, 0.95)]):
        profile = _quiet_profile(size)
        profile["id"] = i
        SETTERS["below_peers"](profile, below)
        profiles.append(profile)
    chosen = assign_actions(profiles, POPULATION, DEFAULT_THRESHOLDS)
    given = [i for i, actions in enumerate(chosen) if actions]
    assert given == [1, 2]  # reach 3,500 and 2,700 beat 600 and 760


def test_at_most_three_actions_a_segment_best_first() -> None:
    profile = _quiet_profile()
    for rule in ("below_peers", "low_pay", "below_experience", "lower_paying_companies"):
        SETTERS[rule](profile, DEFAULT_THRESHOLDS[rule] + 0.1)
    (actions,) = assign_actions([profile], POPULATION, DEFAULT_THRESHOLDS)
    assert len(actions) == 3
    assert [a.score for a in actions] == sorted((a.score for a in actions), reverse=True)
    everything = fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS)
    assert len(everything) == 4 and actions == everything[:3]


def test_texts_are_never_shared_by_more_than_two_segments() -> None:
    profiles = []
    for i in range(6):
        profile = copy.deepcopy(_quiet_profile(1_000 + i))
        profile["id"] = i
        for rule in ("below_peers", "low_pay", "lower_paying_companies", "stale_pay"):
            SETTERS[rule](profile, 0.9)
        profiles.append(profile)
    chosen = assign_actions(profiles, POPULATION, DEFAULT_THRESHOLDS)
    rules = [a.rule for actions in chosen for a in actions]
    assert all(rules.count(r) <= 2 for r in set(rules))
    assert all(len(actions) <= 3 for actions in chosen)


# --- the three actions to take first ------------------------------------------------------------
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
    assert acted_through_coarse(SEGMENTS, COARSE, jaccard) == {0: 0}
    actions = summary_actions(SEGMENTS, COARSE, jaccard)
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
        assert acted_through_coarse(SEGMENTS, COARSE, jaccard) == {}
        actions = summary_actions(SEGMENTS, COARSE, jaccard)
        assert [(a["level"], a["segment_id"], a["rule"]) for a in actions] == [
            ("segment", 0, "a0"),
            ("segment", 1, "b"),
            ("segment", 3, "d"),
        ]


def test_on_equal_reach_the_segment_comes_before_the_macro_segment() -> None:
    segments = [dict(s) for s in SEGMENTS]
    segments[1] = {**segments[1], "actions": [_action("b", 70)]}
    actions = summary_actions(segments, COARSE, {0: 0.5, 1: 0.9, 2: 0.9, 3: 0.9})
    assert [a["rule"] for a in actions] == ["b", "ab", "d"]


def test_the_first_action_is_the_one_of_the_widest_reach() -> None:
    assert first_action(SEGMENTS[0]) == _action("a0", 50)
    tied = {"actions": [_action("z", 10), _action("y", 10)]}
    assert first_action(tied) == _action("y", 10)  # ties: by rule
    assert first_action({"actions": []}) is None


def test_recommending_sets_the_actions_and_their_texts() -> None:
    profiles = [_quiet_profile(), _quiet_profile()]
    profiles[1]["id"] = 1
    SETTERS["low_pay"](profiles[1], 0.8)
    recommend_profiles(profiles, POPULATION, DEFAULT_THRESHOLDS)
    assert profiles[0]["actions"] == [] and profiles[0]["recommendations"] == []
    (action,) = profiles[1]["actions"]
    assert action["rule"] == "low_pay" and action["reach"] == 800
    assert profiles[1]["recommendations"] == [action["text"]]

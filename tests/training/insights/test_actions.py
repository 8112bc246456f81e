"""Career actions (training.insights.actions): each rule fires at its threshold and stays silent
below it, on crafted profiles; its text quotes the figure and names the catalogue's career
service of its family for the learners' stage; the choice across segments keeps at most 3
actions a segment, one per programme family, a programme in at most 2 segments; a figure from
few learners is marked and never first; a segment with no action says why; the three actions
and the courses to take first."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from training.config import TrainingSettings
from training.insights.actions import (
    CATALOGUE,
    DEFAULT_THRESHOLDS,
    MAX_PER_SEGMENT,
    MAX_SEGMENTS_PER_PROGRAMME,
    NEXT_BEST,
    RETIRED_RULES,
    acted_through_coarse,
    assign_actions,
    career_stage,
    fired_actions,
    first_action,
    recommend_profiles,
    summary_actions,
    summary_courses,
)
from training.insights.figures import FEW_LEARNERS
from training.runtime.courses import CAREER, DEFAULT_COURSES

POPULATION: dict[str, Any] = {
    "years_experience": {"p25": 4.0, "p50": 6.0, "p75": 9.0},
    "ctc_inr": {"p25": 560_000, "p50": 950_000, "p75": 1_700_000},
    "stale_ctc_year": 2018,
    "below_experience_share": 0.38,
    "peer_flags": {"designation": {"above": 0.43, "at": 0.13, "below": 0.44}},
    "company_tier_shares": {"tier 1": 0.28, "tier 2": 0.33, "tier 3": 0.39},
    "company_known_share": 0.71,
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
        "company_known": round(0.7 * size),
        "company_known_share": 0.7,
        "ctc_years": {"2019": size // 2, "2020": size - size // 2},
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
    "early_career": _set(("experience_shares", "0-2")),
    "below_experience": _set(("below_experience_share",)),
    "lower_paying_companies": _set(("company_tier_shares", "tier 3")),
    "senior_top_pay": _senior_top,
    "stale_pay": _stale,
    "missing_titles": _set(("data_quality", "no_title_share")),
}
#: The career service each rule names in the default catalogue.
SERVICES = {
    "below_peers": "salary-negotiation",
    "early_career": "placement-support",
    "below_experience": "interview-preparation",
    "lower_paying_companies": "interview-preparation",
    "senior_top_pay": "career-mentoring",
    "stale_pay": "profile-update",
    "missing_titles": "profile-update",
}


def test_every_rule_is_exercised_and_the_retired_ones_are_gone() -> None:
    assert set(SETTERS) == {rule.id for rule in CATALOGUE} == set(DEFAULT_THRESHOLDS)
    assert not set(RETIRED_RULES) & set(DEFAULT_THRESHOLDS)
    # their thresholds are still accepted, so that no setting breaks
    TrainingSettings(recommendation_thresholds=dict.fromkeys(RETIRED_RULES, 0.5))


def test_no_rule_fires_on_an_ordinary_segment() -> None:
    assert fired_actions(_quiet_profile(), POPULATION, DEFAULT_THRESHOLDS) == []


@pytest.mark.parametrize("rule", [rule.id for rule in CATALOGUE])
def test_each_rule_fires_at_its_threshold_names_its_service_and_quotes_its_figure(
    rule: str,
) -> None:
    threshold = DEFAULT_THRESHOLDS[rule]
    above = _quiet_profile()
    SETTERS[rule](above, threshold + 0.05)
    at = _quiet_profile()
    SETTERS[rule](at, threshold)
    below = _quiet_profile()
    SETTERS[rule](below, threshold - 0.05)

    fired = fired_actions(above, POPULATION, DEFAULT_THRESHOLDS)
    assert [a.rule for a in fired] == [rule]
    action = fired[0]
    assert action.figure == pytest.approx(threshold + 0.05, abs=1e-3)
    assert f"{100 * action.figure:.0f} %" in action.text
    assert action.score == pytest.approx(action.reach * action.figure / threshold)
    entry = next(c for c in DEFAULT_COURSES if c.id == action.programme)
    assert entry.id == SERVICES[rule] and entry.kind == CAREER
    assert action.text.endswith(f": offer {entry.name}.")
    assert (action.programme_name, action.family) == (entry.name, entry.family)
    assert [a.rule for a in fired_actions(at, POPULATION, DEFAULT_THRESHOLDS)] == [rule]
    assert fired_actions(below, POPULATION, DEFAULT_THRESHOLDS) == []


def test_a_tier_rule_counts_known_companies_only_and_says_how_many() -> None:
    profile = _quiet_profile()
    profile["company_tier_shares"]["tier 3"] = 0.98
    profile["company_known"], profile["company_known_share"] = 740, 0.74
    (action,) = fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS)
    assert action.rule == "lower_paying_companies"
    assert action.reach == round(0.98 * 740) and action.basis == 740
    assert action.text.startswith(
        "98 % of the 74 % whose company is known work at lower-paying (tier-3) companies "
        "(all learners: 39 % of the 71 % whose company is known)"
    )
    profile["company_known"] = 0
    assert fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS) == []
    # most of the segment's companies unknown: the tier rule says nothing
    profile["company_known"], profile["company_known_share"] = 470, 0.47
    assert fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS) == []
    profile["company_known_share"] = 0.5
    assert [a.rule for a in fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS)] == [
        "lower_paying_companies"
    ]


def test_senior_top_pay_needs_a_senior_segment() -> None:
    profile = _quiet_profile()
    profile["pay_quartile_shares"]["top"] = 0.9  # top pay, but median experience 6 < p75 9
    assert [a.rule for a in fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS)] == []


def test_a_rule_names_only_what_the_catalogue_offers_at_the_learners_stage() -> None:
    profile = _quiet_profile()
    SETTERS["below_peers"](profile, 0.8)
    without_pay = [c for c in DEFAULT_COURSES if c.family != "pay"]
    assert fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS, without_pay) == []
    # the school's own entry of the family is named
    coaching = replace(
        next(c for c in DEFAULT_COURSES if c.family == "pay"), id="coach", name="Pay coaching"
    )
    (action,) = fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS, [*without_pay, coaching])
    assert (action.programme, action.programme_name) == ("coach", "Pay coaching")
    # a senior segment gets no mentoring from a catalogue that offers it to juniors only
    senior = _quiet_profile()
    _senior_top(senior, 0.9)
    assert career_stage(senior, POPULATION) == "senior"
    assert [a.rule for a in fired_actions(senior, POPULATION, DEFAULT_THRESHOLDS)] == [
        "senior_top_pay"
    ]
    only_early = [replace(c, stages=("early",)) if c.family == "growth" else c for c in without_pay]
    assert fired_actions(senior, POPULATION, DEFAULT_THRESHOLDS, only_early) == []


def test_a_threshold_from_the_settings_moves_the_rule() -> None:
    profile = _quiet_profile()
    SETTERS["below_peers"](profile, 0.55)
    strict = TrainingSettings(recommendation_thresholds={"below_peers": 0.7})
    assert fired_actions(profile, POPULATION, strict.recommendation_thresholds) == []
    assert fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS)


def test_unknown_rules_in_the_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="Unknown recommendation rules: cheer_up; choose"):
        TrainingSettings(recommendation_thresholds={"cheer_up": 0.1})


def test_one_action_per_programme_family_per_segment() -> None:
    """Pay far below experience and a tier-3 company both call for a job switch: the segment
    gets one, the stronger, and nothing of the family twice."""
    profile = _quiet_profile()
    SETTERS["below_experience"](profile, 0.75)
    SETTERS["lower_paying_companies"](profile, 0.98)
    SETTERS["stale_pay"](profile, 0.5)
    SETTERS["missing_titles"](profile, 0.5)
    assert len(fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS)) == 4
    (actions,) = assign_actions([profile], POPULATION, DEFAULT_THRESHOLDS)
    families = [a.family for a in actions]
    assert sorted(families) == ["job switch", "profile"]
    assert len(set(families)) == len(families)


def test_a_programme_goes_to_at_most_two_segments_where_it_reaches_most() -> None:
    profiles = []
    for i, (size, below) in enumerate([(1_000, 0.6), (5_000, 0.7), (3_000, 0.9), (800, 0.95)]):
        profile = _quiet_profile(size)
        profile["id"] = i
        # the job-switch family through either of its rules
        SETTERS["below_experience" if i % 2 else "lower_paying_companies"](profile, below)
        profiles.append(profile)
    chosen = assign_actions(profiles, POPULATION, DEFAULT_THRESHOLDS)
    switch = [i for i, actions in enumerate(chosen) if actions[0].family == "job switch"]
    assert switch == [1, 2]  # scores 6,125 and 3,402 beat 504 and 1,805
    assert MAX_SEGMENTS_PER_PROGRAMME == 2
    # the two left without it get the next-best service of another family (pay), within the
    # same cap, and say which programme went elsewhere
    for i in (0, 3):
        (action,) = chosen[i]
        assert action.family == NEXT_BEST["job switch"][0] == "pay"
        assert (
            "(Interview preparation and job-switch support, the first fit, went to segments 1 and 2"
            in (action.text)
        )
    programmes = [a.programme for actions in chosen for a in actions]
    assert all(programmes.count(p) <= MAX_SEGMENTS_PER_PROGRAMME for p in set(programmes))


def test_no_next_best_when_its_programme_is_full_too() -> None:
    profiles = []
    for i, size in enumerate([5_000, 4_000, 3_000, 2_000, 1_000]):
        profile = _quiet_profile(size)
        profile["id"] = i
        SETTERS["below_experience"](profile, 0.9)
        profiles.append(profile)
    chosen = assign_actions(profiles, POPULATION, DEFAULT_THRESHOLDS)
    families = [[a.family for a in actions] for actions in chosen]
    assert families == [["job switch"], ["job switch"], ["pay"], ["pay"], []]
    recommend_profiles(profiles, POPULATION, DEFAULT_THRESHOLDS)
    assert (
        profiles[4]["no_action"] is not None
        and "which went to segments 0 and 1" in (profiles[4]["no_action"])
    )


def test_at_most_three_actions_a_segment_best_first() -> None:
    profile = _quiet_profile()
    for rule in ("below_peers", "early_career", "below_experience", "stale_pay"):
        SETTERS[rule](profile, DEFAULT_THRESHOLDS[rule] + 0.1)
    (actions,) = assign_actions([profile], POPULATION, DEFAULT_THRESHOLDS)
    assert len(actions) == MAX_PER_SEGMENT
    assert [a.score for a in actions] == sorted((a.score for a in actions), reverse=True)


def test_on_a_whole_model_no_segment_repeats_a_family_nor_a_programme_a_third_segment() -> None:
    profiles = []
    for i in range(6):
        profile = copy.deepcopy(_quiet_profile(1_000 + i))
        profile["id"] = i
        for rule in ("below_peers", "below_experience", "lower_paying_companies", "stale_pay"):
            SETTERS[rule](profile, 0.9)
        profiles.append(profile)
    chosen = assign_actions(profiles, POPULATION, DEFAULT_THRESHOLDS)
    programmes = [a.programme for actions in chosen for a in actions]
    assert all(programmes.count(p) <= 2 for p in set(programmes))
    for actions in chosen:
        assert len({a.family for a in actions}) == len(actions) <= 3


def test_a_figure_of_few_learners_is_marked_and_never_put_first() -> None:
    profile = _quiet_profile(size=FEW_LEARNERS - 5)
    SETTERS["below_peers"](profile, 0.9)
    (action,) = fired_actions(profile, POPULATION, DEFAULT_THRESHOLDS)
    assert action.small and f"from only {FEW_LEARNERS - 5} learners" in action.text
    recommend_profiles([profile], POPULATION, DEFAULT_THRESHOLDS)
    assert profile["actions"][0]["small"] is True
    assert first_action(profile) is None
    profile["coarse_segment_id"], profile["name"] = 0, "A"
    assert summary_actions([profile], []) == []


def test_a_segment_without_actions_says_why() -> None:
    quiet = _quiet_profile()
    SETTERS["below_peers"](quiet, 0.45)  # the nearest rule, short of its 50 %
    recommend_profiles([quiet], POPULATION, DEFAULT_THRESHOLDS)
    assert quiet["actions"] == [] and quiet["recommendations"] == []
    assert quiet["no_action"] == (
        "No rule of the catalogue fires on its figures: the nearest is the share paid below "
        "their title peers (same title at their company, or anywhere when the company is unknown) "
        "at 45 % (it fires from 50 %)."
    )
    crowded = []
    for i, size in enumerate((5_000, 4_000, 3_000, 2_000, 1_000)):
        profile = _quiet_profile(size)
        profile["id"] = i
        SETTERS["below_experience"](profile, 0.8)
        crowded.append(profile)
    recommend_profiles(crowded, POPULATION, DEFAULT_THRESHOLDS, level="macro-segment")
    # two get the programme, two its next-best (pay coaching), the last neither
    assert [bool(p["actions"]) for p in crowded] == [True, True, True, True, False]
    assert [p["no_action"] is None for p in crowded] == [True, True, True, True, False]
    assert "went to macro-segments 0 and 1" in crowded[4]["no_action"]
    assert "Interview preparation and job-switch support" in crowded[4]["no_action"]
    assert (
        "its next-best, Pay benchmarking and negotiation coaching, went to macro-segments 2 "
        in (crowded[4]["no_action"])
    )


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


# --- the courses to offer first -----------------------------------------------------------------
def _cohort(track: str, learners: int, course: str, low: int = 0) -> dict[str, Any]:
    return {
        "track": track,
        "learners": learners,
        "share": 0.1,
        "median_ctc_lpa": 9.0,
        "course": course,
        "course_name": course.upper(),
        "why": "",
        "low_confidence": low,
        "small": learners < FEW_LEARNERS,
    }


def test_courses_first_rank_courses_by_their_cohorts_learners_leaving_small_cohorts_out() -> None:
    segments = [
        {
            "id": 0,
            "name": "A",
            "cohorts": [
                _cohort("backend", 500, "sd", 40),
                _cohort("data", 200, "ds", 10),
                _cohort("qa", FEW_LEARNERS - 1, "qa"),
            ],
        },
        {"id": 1, "name": "B", "cohorts": [_cohort("backend", 300, "sd", 5)]},
        {"id": 2, "name": "C"},  # a model before cohorts: nothing
    ]
    courses = summary_courses(segments)
    assert [(c["course"], c["learners"], c["low_confidence"]) for c in courses] == [
        ("sd", 800, 45),
        ("ds", 200, 10),
    ]
    assert [(c["segment_id"], c["learners"]) for c in courses[0]["cohorts"]] == [(0, 500), (1, 300)]
    assert courses[0]["course_name"] == "SD"
    assert summary_courses(segments, top=1) == courses[:1]
    assert summary_courses([{"id": 0}]) == []

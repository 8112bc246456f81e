"""Segment names (training.insights.naming): every word of every name is checked against its rule,
recomputed here from the learners themselves (company tiers among known companies only), on
segmentations of two generator seeds at several k; no two names open with the same word, on
those and on the default model; on crafted profiles, each word fires at its rule and stays
silent short of it, first words go where they are most distinctive, and a macro-segment's
name holds for every member."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans

from training.config import DEFAULT_CLUSTER_FEATURES, TrainingSettings
from training.data.load import read_learners_frame
from training.data.synth import generate_learners
from training.insights.figures import FEW_LEARNERS
from training.insights.naming import (
    EXPERIENCE_MARGIN,
    MAX_WORDS,
    MIN_KNOWN_SHARE,
    NAME_Z,
    ROLE_LIFT,
    TRACK_SHARE,
    TYPICAL,
    contradiction,
    held_words,
    name_profiles,
    name_words,
    share_z,
)
from training.insights.profiles import build_profiles
from training.prep.features import LearnerData, build_learner_data
from training.run import TrainingResult
from training.runtime.tracks import TRACK_NAMES


@pytest.fixture(scope="module")
def seed_two_data(settings: TrainingSettings) -> LearnerData:
    raw = read_learners_frame(generate_learners(rows=20_000, seed=2), origin="test")
    return build_learner_data(raw, settings)


def _segment(data: LearnerData, k: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    x = data.features[list(DEFAULT_CLUSTER_FEATURES)].to_numpy(np.float64)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    kmeans = KMeans(n_clusters=k, n_init=3, random_state=0).fit(z)
    labels = kmeans.labels_.astype(np.intp)
    profiles = build_profiles(
        labels,
        data.learners,
        data.features,
        centers=kmeans.cluster_centers_,
        silhouette={},
        best_match={},
        coarse={i: 0 for i in range(k)},
    )
    return labels, profiles


def _share_z(inside: np.ndarray, everyone: np.ndarray) -> float:
    return share_z(float(inside.mean()), float(everyone.mean()))


def _holds(word: str, data: LearnerData, members: np.ndarray) -> bool:
    """The word's rule, recomputed from the learners (tiers: known companies only)."""
    features, learners = data.features, data.learners
    years = features["years_experience"].to_numpy()
    z = {
        name: (features[name][members].mean() - features[name].mean()) / features[name].std(ddof=0)
        for name in ("years_experience", "pay_vs_experience")
    }
    median, (p25, p50, p75) = np.median(years[members]), np.percentile(years, [25, 50, 75])
    word = word[:1].upper() + word[1:]
    if word in ("Senior", "Experienced"):
        return (
            z["years_experience"] >= NAME_Z
            and median >= p50 + EXPERIENCE_MARGIN
            and (word == "Experienced" or median >= p75)
        )
    if word in ("Early-career", "Less experienced"):
        return (
            z["years_experience"] <= -NAME_Z
            and median <= p50 - EXPERIENCE_MARGIN
            and (word == "Less experienced" or median <= p25)
        )
    pay = features["pay_vs_experience"].to_numpy()
    if word == "Underpaid for their experience":
        below = pay <= -np.log(1.25)
        return z["pay_vs_experience"] <= -NAME_Z and below[members].mean() > below.mean()
    if word == "Well-paid for their experience":
        above = pay >= np.log(1.25)
        return z["pay_vs_experience"] >= NAME_Z and above[members].mean() > above.mean()
    known = features["company_known"].to_numpy() == 1
    tier = features["company_tier"].to_numpy()
    tiers = {"Tier-1 companies": 1, "Mid-paying companies": 2, "Lower-paying companies": 3}
    if word in tiers:
        at = tier == tiers[word]
        inside = at[members & known]
        return len(inside) >= FEW_LEARNERS and _share_z(inside, at[known]) >= NAME_Z
    many = word.startswith("Many ") and word.endswith(" titles")
    more = word.startswith("More ") and word.endswith(" titles than elsewhere")
    assert many or more, word
    names = {name: track for track, name in TRACK_NAMES.items()}
    track = names[word.removeprefix("Many ").removeprefix("More ").split(" titles")[0]]
    titled = (learners["track"] != "unknown").to_numpy()
    on = (learners["track"] == track).to_numpy()
    inside = on[members & titled]
    commonest = learners["track"][members & titled & (learners["track"] != "other").to_numpy()]
    is_top = commonest.value_counts().index[0] == track
    return (
        _share_z(inside, on[titled]) >= NAME_Z
        and inside.mean() / on[titled].mean() >= ROLE_LIFT
        and inside.sum() >= FEW_LEARNERS
        # "many" needs a meaningful share too: the commonest track, at least TRACK_SHARE
        and many == (inside.mean() >= TRACK_SHARE and is_top)
    )


@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("which", ["seed 1", "seed 2"])
def test_every_word_of_every_name_meets_its_rule_and_first_words_differ(
    k: int, which: str, small_data: LearnerData, seed_two_data: LearnerData
) -> None:
    data = small_data if which == "seed 1" else seed_two_data
    labels, profiles = _segment(data, k)
    firsts = [p["name"].split()[0].lower() for p in profiles]
    assert len(set(firsts)) == k, [p["name"] for p in profiles]
    for profile in profiles:
        members = labels == profile["id"]
        words = [w["word"] for w in profile["name_words"]]
        assert 1 <= len(words) <= MAX_WORDS
        for word in words:
            assert word == TYPICAL or _holds(word, data, members), (profile["name"], word)
        assert profile["name"] == ", ".join(words) or profile["name"].startswith("Segment ")
        for word in profile["name_words"]:
            assert word["rule"] and word["figure"] and word["kind"]
        # one word per input
        kinds = [w["kind"] for w in profile["name_words"]]
        assert len(set(kinds)) == len(kinds)


def test_no_two_segments_of_the_default_model_open_with_the_same_word(
    trained_default: TrainingResult,
) -> None:
    profiles = json.loads((trained_default.folder / "profiles.json").read_text())
    firsts = [s["name"].split()[0].lower() for s in profiles["segments"]]
    assert len(set(firsts)) == len(firsts), [s["name"] for s in profiles["segments"]]
    macros = [c["name"].split()[0].lower() for c in profiles["coarse"]]
    assert len(set(macros)) == len(macros), [c["name"] for c in profiles["coarse"]]


# --- the vocabulary on crafted profiles ----------------------------------------------------------
POPULATION: dict[str, Any] = {
    "years_experience": {"p25": 3.0, "p50": 6.0, "p75": 9.0},
    "ctc_lpa": {"p25": 5.6, "p50": 9.5, "p75": 17.0},
    "below_experience_share": 0.38,
    "above_experience_share": 0.35,
    "company_tier_shares": {"tier 1": 0.3, "tier 2": 0.4, "tier 3": 0.3},
    "company_known_share": 0.7,
    "tracks_known": {"backend": 0.4, "data": 0.1, "qa": 0.1, "other": 0.1, "fullstack": 0.3},
}


def _plain(profile_id: int = 0, size: int = 1_000) -> dict[str, Any]:
    """A segment like all learners on every input: only "Typical" holds."""
    return {
        "id": profile_id,
        "size": size,
        "center": {"years_experience": 6.0, "ctc_lpa": 9.5},
        "feature_z": dict.fromkeys(DEFAULT_CLUSTER_FEATURES, 0.0) | {"log_ctc": 0.0},
        "pay_quartile_shares": {"bottom": 0.25, "top": 0.25},
        "below_experience_share": 0.38,
        "above_experience_share": 0.35,
        "company_tier_shares": {"tier 1": 0.3, "tier 2": 0.4, "tier 3": 0.3},
        "company_known": 700,
        "company_known_share": 0.7,
        "known_titles": 800,
        "track_shares_known": dict(POPULATION["tracks_known"]),
    }


def _words(
    profile: dict[str, Any], inputs: tuple[str, ...] = DEFAULT_CLUSTER_FEATURES
) -> list[str]:
    return [w.word for w in held_words(profile, POPULATION, inputs)]


def test_an_ordinary_segment_is_typical() -> None:
    (word,) = held_words(_plain(), POPULATION)
    assert word.word == TYPICAL and word.strength == 0.0


@pytest.mark.parametrize(
    ("z", "years", "words"),
    [
        (1.2, 9.0, ["Senior", "Experienced"]),  # at the 75th percentile
        (1.2, 8.0, ["Experienced"]),
        (NAME_Z, 8.0, ["Experienced"]),  # at the threshold
        (NAME_Z - 0.01, 8.0, [TYPICAL]),
        (0.8, 6.0, [TYPICAL]),  # a z-score the median does not bear out: no word
        (0.8, 7.0, [TYPICAL]),  # one year over the median: no clear margin
        (-0.9, 3.0, ["Early-career", "Less experienced"]),
        (-0.9, 4.0, ["Less experienced"]),  # 2 years under the median: the margin
        (-0.9, 5.0, [TYPICAL]),  # 5 against 6 years: no clear margin
    ],
)
def test_the_experience_words_need_the_z_score_and_the_median(
    z: float, years: float, words: list[str]
) -> None:
    profile = _plain()
    profile["feature_z"]["years_experience"] = z
    profile["center"]["years_experience"] = years
    assert _words(profile) == words
    if words[0] != TYPICAL:
        assert name_words(profile, POPULATION)[0].word == words[0]  # the most specific


def test_the_pay_for_experience_words_quote_the_share_beyond_20_percent() -> None:
    profile = _plain()
    profile["feature_z"]["pay_vs_experience"] = -0.7
    profile["below_experience_share"] = 0.66
    (word,) = held_words(profile, POPULATION)
    assert word.word == "Underpaid for their experience"
    assert word.figure == (
        "66 % paid at least 20 % less than the median learner with their experience "
        "(all learners: 38 %)"
    )
    profile["below_experience_share"] = 0.38  # no more than all learners: silent
    assert _words(profile) == [TYPICAL]
    profile["feature_z"]["pay_vs_experience"] = 1.4
    profile["above_experience_share"] = 0.9
    assert _words(profile) == ["Well-paid for their experience"]


def test_a_tier_word_counts_known_companies_only_and_needs_30_of_them() -> None:
    profile = _plain()
    profile["company_tier_shares"] = {"tier 1": 0.82, "tier 2": 0.1, "tier 3": 0.08}
    profile["company_known_share"] = 0.61
    (word,) = held_words(profile, POPULATION)
    assert word.word == "Tier-1 companies"
    assert word.strength == pytest.approx(share_z(0.82, 0.3))
    assert word.figure == (
        "82 % of the 61 % whose company is known at tier-1 (best-paying) companies "
        "(all learners: 30 % of the 70 % whose company is known)"
    )
    profile["company_known"] = FEW_LEARNERS - 1
    assert _words(profile) == [TYPICAL]
    # a segment gathered in the middle tier is named for it, whatever its mean tier
    profile = _plain()
    profile["company_tier_shares"] = {"tier 1": 0.1, "tier 2": 0.85, "tier 3": 0.05}
    assert _words(profile) == ["Mid-paying companies"]


def test_the_track_word_needs_a_distinctive_track_of_enough_learners() -> None:
    profile = _plain()
    profile["track_shares_known"] = {"data": 0.3, "backend": 0.3, "fullstack": 0.3, "qa": 0.1}
    (word,) = held_words(profile, POPULATION)
    assert word.word == "Many Data & ML titles" and word.kind == "track"
    assert word.figure == "30 % of known titles are Data & ML (all learners: 10 %), 3.00x"
    profile["known_titles"] = 90  # 27 data titles: too few
    assert _words(profile) == [TYPICAL]
    profile = _plain()
    profile["track_shares_known"] = {"other": 0.6, "backend": 0.4}  # "other" names nothing
    assert _words(profile) == [TYPICAL]


def test_pay_words_come_only_when_pay_is_an_input() -> None:
    profile = _plain()
    profile["feature_z"]["log_ctc"] = 1.1
    profile["center"]["ctc_lpa"] = 24.0
    profile["pay_quartile_shares"]["top"] = 0.8
    assert _words(profile) == [TYPICAL]
    with_pay = (*DEFAULT_CLUSTER_FEATURES, "log_ctc")
    assert _words(profile, with_pay) == ["Top-paid", "Higher-paid"]
    profile["feature_z"]["ctc_growth"] = -0.4
    assert "Below-average ctc growth" in _words(profile, (*with_pay, "ctc_growth"))


def test_first_words_go_where_they_are_most_distinctive_and_never_twice() -> None:
    """Two senior segments: the one that has no other word keeps "Senior"; the other opens
    with its next word, and "Senior" follows. The sum of the first words' |z| is largest."""
    a, b, c = _plain(0), _plain(1), _plain(2)
    for profile, z in ((a, 1.6), (b, 1.4)):
        profile["feature_z"]["years_experience"] = z
        profile["center"]["years_experience"] = 12.0
    a["company_tier_shares"] = {"tier 1": 0.8, "tier 2": 0.15, "tier 3": 0.05}  # z 1.09
    profiles = [a, b, c]
    name_profiles(profiles, POPULATION)
    assert [p["name"] for p in profiles] == [
        "Tier-1 companies, senior",
        "Senior",
        "Typical",
    ]
    assert [w["word"] for w in a["name_words"]] == ["Tier-1 companies", "senior"]
    # a segment left without a word of its own is named by its id
    d = copy.deepcopy(c)
    d["id"] = 3
    profiles = [a, b, c, d]
    name_profiles(profiles, POPULATION)
    assert sorted(p["name"] for p in profiles[2:]) == ["Segment 3", "Typical"]


def test_a_macro_segment_s_name_holds_for_every_member() -> None:
    top, mid = _plain(0), _plain(1)
    for profile in (top, mid):
        profile["feature_z"]["years_experience"] = 1.5
        profile["center"]["years_experience"] = 11.0
    top["company_tier_shares"] = {"tier 1": 0.9, "tier 2": 0.05, "tier 3": 0.05}
    macro = copy.deepcopy(top)  # its figures say tier 1, but one member is not
    macro["id"] = 0
    name_profiles([macro], POPULATION, members={0: [top, mid]})
    assert macro["name"] == "Senior"
    assert [w["word"] for w in macro["name_words"]] == ["Senior"]
    mid["feature_z"]["years_experience"] = 0.0  # nothing in common any more
    name_profiles([macro], POPULATION, members={0: [top, mid]})
    assert macro["name"] == "Segments 0 and 1"
    # a word is as strong as its weakest member: of two senior macro-segments, the one whose
    # every member is clearly senior opens with "Senior", though the other's own figure is higher
    mid["feature_z"]["years_experience"] = 0.5
    mid["center"]["years_experience"] = 9.0
    steady_a, steady_b = copy.deepcopy(mid), copy.deepcopy(mid)
    for steady in (steady_a, steady_b):
        steady["feature_z"]["years_experience"] = 1.0
    steady_a["id"], steady_b["id"] = 2, 3
    other = copy.deepcopy(steady_a)
    other["id"] = 1
    other["company_tier_shares"] = {"tier 1": 0.9, "tier 2": 0.05, "tier 3": 0.05}
    macros = [macro, other]
    name_profiles(macros, POPULATION, members={0: [top, mid], 1: [steady_a, steady_b]})
    assert [m["name"].split(",")[0] for m in macros] == ["Experienced", "Senior"]


def test_a_segment_of_few_learners_is_marked() -> None:
    small = _plain(size=FEW_LEARNERS - 1)
    name_profiles([small], POPULATION)
    assert small["name"] == f"Typical (fewer than {FEW_LEARNERS} learners)"


def test_a_tier_word_says_nothing_when_most_of_the_segment_s_companies_are_unknown() -> None:
    profile = _plain()
    profile["company_tier_shares"] = {"tier 1": 0.05, "tier 2": 0.9, "tier 3": 0.05}
    profile["company_known_share"] = MIN_KNOWN_SHARE  # half known: the word holds
    (word,) = held_words(profile, POPULATION)
    assert word.word == "Mid-paying companies" and "of the 50 % whose company is known" in (
        word.figure
    )
    profile["company_known_share"] = MIN_KNOWN_SHARE - 0.03  # 47 % known: no word on tiers
    assert _words(profile) == [TYPICAL]


@pytest.mark.parametrize(
    ("flags", "held"),
    [
        # the senior segment of the default model: paid above same-title colleagues
        ({"designation": {"above": 0.69, "below": 0.20}}, False),
        ({"class": {"above": 0.67, "below": 0.25}}, False),
        ({"tier": {"above": 0.45, "below": 0.35}}, False),  # exactly 10 points: contradicted
        ({"designation": {"above": 0.44, "below": 0.35}}, True),  # under 10 points: holds
        ({"designation": {"above": 0.08, "below": 0.82}}, True),
        ({}, True),  # no peer figures: nothing contradicts
    ],
)
def test_underpaid_is_dropped_when_pay_against_peers_says_the_opposite(
    flags: dict[str, dict[str, float]], held: bool
) -> None:
    profile = _plain()
    profile["feature_z"]["pay_vs_experience"] = -0.7
    profile["below_experience_share"] = 0.44
    profile["peer_flags"] = flags
    assert ("Underpaid for their experience" in _words(profile)) is held
    assert (contradiction(profile, "below") is None) is held


def test_well_paid_is_dropped_when_pay_against_peers_says_the_opposite() -> None:
    profile = _plain()
    profile["feature_z"]["pay_vs_experience"] = 0.9
    profile["above_experience_share"] = 0.8
    profile["peer_flags"] = {"class": {"above": 0.79, "below": 0.14}}
    assert _words(profile) == ["Well-paid for their experience"]
    profile["peer_flags"] = {"class": {"above": 0.2, "below": 0.6}}
    assert _words(profile) == [TYPICAL]
    assert contradiction(profile, "above") == (
        "60 % paid below learners with the same title, 20 % above"
    )


@pytest.mark.parametrize(
    ("share", "backend", "word"),
    [
        (0.40, 0.30, "Many Data & ML titles"),  # the commonest, at least TRACK_SHARE
        (0.20, 0.24, "More Data & ML titles than elsewhere"),  # distinctive by lift only
        (TRACK_SHARE, 0.30, "More Data & ML titles than elsewhere"),  # not the commonest
        (0.11, 0.30, None),  # not distinctive: no word
    ],
)
def test_a_track_word_needs_lift_and_a_meaningful_share_for_many(
    share: float, backend: float, word: str | None
) -> None:
    profile = _plain()
    profile["track_shares_known"] = {"data": share, "backend": backend, "other": 0.5}
    words = [w.word for w in held_words(profile, POPULATION) if w.kind == "track"]
    assert words == ([] if word is None else [word])

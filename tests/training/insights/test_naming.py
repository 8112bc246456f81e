"""Segment names (training.insights.naming): every word of every name is checked against its rule,
recomputed here from the learners themselves, on segmentations of two generator seeds at several
k; names are unique and keep the figures that justified each word; on crafted profiles, each
word fires at its threshold and qualifiers come most distinctive first."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans

from training.config import DEFAULT_CLUSTER_FEATURES, TrainingSettings
from training.data.load import read_learners_frame
from training.data.synth import generate_learners
from training.insights.naming import HALF, PEERS_SHARE, ROLE_LIFT, name_profiles, name_words
from training.insights.profiles import build_profiles
from training.prep.features import LearnerData, build_learner_data
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


def _expected_experience(years: np.ndarray, members: np.ndarray) -> str:
    p25, p75 = np.percentile(years, [25, 75])
    median = np.median(years[members])
    return "Early-career" if median <= p25 else "Senior" if median >= p75 else "Mid-career"


def _expected_pay(ctc: np.ndarray, members: np.ndarray) -> str:
    q25, q75 = np.percentile(ctc, [25, 75])
    if (ctc[members] <= q25).mean() >= 0.5:
        return "low pay"
    return "top pay" if (ctc[members] >= q75).mean() >= 0.5 else "mid pay"


def _qualifier_holds(word: str, data: LearnerData, members: np.ndarray) -> bool:
    features, learners = data.features, data.learners
    tier = features["company_tier"].to_numpy()[members]
    flag = features["designation_flag"].to_numpy()[members]
    if word == "tier-1 companies":
        return bool((tier == 1).mean() >= 0.5)
    if word == "lower-paying companies":
        return bool((tier == 3).mean() >= 0.5)
    if word == "paid above same-title colleagues":
        return bool((flag == 1).mean() >= 0.6)
    if word == "paid below same-title colleagues":
        return bool((flag == 3).mean() >= 0.6)
    assert word.endswith(" roles"), word
    names = {name: track for track, name in TRACK_NAMES.items()}
    family = names[word.removesuffix(" roles")]
    known = learners["track"] != "unknown"
    inside = learners.loc[members & known.to_numpy(), "track"].value_counts(normalize=True)
    everyone = learners.loc[known, "track"].value_counts(normalize=True)
    return bool(inside.index[0] == family and inside[family] / everyone[family] >= 1.2)


def _any_qualifier_fires(data: LearnerData, members: np.ndarray) -> bool:
    families = data.learners.loc[members, "track"]
    known = families[families != "unknown"]
    words = [
        "tier-1 companies",
        "lower-paying companies",
        "paid above same-title colleagues",
        "paid below same-title colleagues",
    ]
    if len(known):
        words.append(f"{TRACK_NAMES[known.value_counts().index[0]]} roles")
    return any(_qualifier_holds(w, data, members) for w in words)


@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("which", ["seed 1", "seed 2"])
def test_every_word_of_every_name_meets_its_rule(
    k: int, which: str, small_data: LearnerData, seed_two_data: LearnerData
) -> None:
    data = small_data if which == "seed 1" else seed_two_data
    labels, profiles = _segment(data, k)
    years = data.features["years_experience"].to_numpy()
    ctc = data.learners["ctc"].to_numpy(np.float64)
    names = [p["name"] for p in profiles]
    assert len(set(names)) == k
    for profile in profiles:
        members = labels == profile["id"]
        words = [w["word"] for w in profile["name_words"]]
        assert words[0] == _expected_experience(years, members)
        assert words[1] == _expected_pay(ctc, members)
        for word in words[2:]:
            assert _qualifier_holds(word, data, members), (profile["name"], word)
        # the most distinctive qualifier is named whenever one fires
        assert (len(words) >= 3) == _any_qualifier_fires(data, members)
        assert profile["name"] in (", ".join(words), f"{', '.join(words)} (#{profile['id']})")
        for word in profile["name_words"]:
            assert word["rule"] and word["figure"] and word["kind"]


def test_a_qualifier_is_added_only_to_tell_names_apart(small_data: LearnerData) -> None:
    """Two segments that share experience and pay words get their next qualifiers; one that
    is alone with its words keeps at most one."""
    _, profiles = _segment(small_data, 7)
    for profile in profiles:
        base = ", ".join(profile["name"].split(", ")[:3])
        others = [p for p in profiles if p is not profile and p["name"].startswith(base)]
        if len(profile["name_words"]) > 3:
            assert others or "(#" in profile["name"], profile["name"]


# --- the vocabulary on crafted profiles ----------------------------------------------------------
POPULATION: dict[str, Any] = {
    "years_experience": {"p25": 3.0, "p50": 6.0, "p75": 9.0},
    "ctc_lpa": {"p25": 5.6, "p50": 9.5, "p75": 17.0},
}


def _plain_profile(profile_id: int = 0) -> dict[str, Any]:
    """Mid-career, mid pay, and no qualifier fires."""
    return {
        "id": profile_id,
        "center": {"years_experience": 6.0},
        "pay_quartile_shares": {"bottom": 0.2, "top": 0.2},
        "company_tier_shares": {"tier 1": 0.3, "tier 2": 0.4, "tier 3": 0.3},
        "dominant_track": {"name": "backend", "share": 0.3, "lift": 1.0},
        "peer_flags": {"designation": {"above": 0.3, "at": 0.4, "below": 0.3}},
    }


@pytest.mark.parametrize(
    ("years", "word"),
    [(2.0, "Early-career"), (3.0, "Early-career"), (6.0, "Mid-career"), (9.0, "Senior")],
)
def test_the_experience_word_follows_all_learners_quartiles(years: float, word: str) -> None:
    profile = _plain_profile()
    profile["center"]["years_experience"] = years
    assert name_words(profile, POPULATION)[0].word == word


@pytest.mark.parametrize(
    ("bottom", "top", "word", "figure"),
    [
        (HALF, 0.0, "low pay", "50 % earn INR 5.6 LPA or less"),
        (0.0, 0.8, "top pay", "80 % earn INR 17 LPA or more"),
        (0.49, 0.49, "mid pay", "49 % in the bottom quartile, 49 % in the top"),
    ],
)
def test_the_pay_word_needs_half_the_segment_in_a_quartile(
    bottom: float, top: float, word: str, figure: str
) -> None:
    profile = _plain_profile()
    profile["pay_quartile_shares"] = {"bottom": bottom, "top": top}
    found = name_words(profile, POPULATION)[1]
    assert (found.word, found.kind, found.figure) == (word, "pay", figure)


def test_qualifiers_fire_at_their_thresholds_most_distinctive_first() -> None:
    profile = _plain_profile()
    assert [w.kind for w in name_words(profile, POPULATION)] == ["experience", "pay"]
    profile["company_tier_shares"] = {"tier 1": 0.1, "tier 2": 0.3, "tier 3": 0.6}  # 1.2x
    profile["dominant_track"] = {"name": "data", "share": 0.5, "lift": ROLE_LIFT}
    profile["peer_flags"]["designation"] = {"above": 0.05, "at": 0.05, "below": 0.9}  # 1.5x
    words = name_words(profile, POPULATION)
    assert [w.word for w in words[2:]] == [
        "paid below same-title colleagues",
        "lower-paying companies",
        "Data & ML roles",
    ]
    assert [w.strength for w in words[2:]] == pytest.approx([0.9 / PEERS_SHARE, 1.2, 1.0])
    assert words[2].rule == (
        "at least 60 % paid below colleagues with the same title at their company"
    )
    profile["dominant_track"]["lift"] = ROLE_LIFT - 0.01
    assert "Data & ML roles" not in [w.word for w in name_words(profile, POPULATION)]


def test_names_grow_only_while_they_clash_then_take_the_id() -> None:
    alone, twin_a, twin_b = _plain_profile(0), _plain_profile(1), _plain_profile(2)
    alone["center"]["years_experience"] = 10.0
    for twin in (twin_a, twin_b):
        twin["company_tier_shares"] = {"tier 1": 0.7, "tier 2": 0.2, "tier 3": 0.1}
    twin_a["peer_flags"]["designation"] = {"above": 0.7, "at": 0.2, "below": 0.1}
    profiles = [alone, twin_a, twin_b]
    name_profiles(profiles, POPULATION)
    assert [p["name"] for p in profiles] == [
        "Senior, mid pay",
        "Mid-career, mid pay, tier-1 companies, paid above same-title colleagues",
        "Mid-career, mid pay, tier-1 companies",
    ]
    assert [len(p["name_words"]) for p in profiles] == [2, 4, 3]
    twin_a["peer_flags"] = twin_b["peer_flags"]
    name_profiles(profiles, POPULATION)
    assert [p["name"] for p in profiles[1:]] == [
        "Mid-career, mid pay, tier-1 companies (#1)",
        "Mid-career, mid pay, tier-1 companies (#2)",
    ]

"""How far to trust each segment (training.insights.trust): Hennig's reading of its bootstrap
Jaccard, whether the hierarchical reference finds it too, what to use it for (the segment, its
macro-segment, the segment with care, or the segment knowing that the second method splits it,
and where it puts its learners), the warning its actions carry, and the agreement of the two
methods."""

from __future__ import annotations

from typing import Any

import pytest

from training.config import DISSOLVES_UNDER_JACCARD, HIGHLY_STABLE_JACCARD, MIN_JACCARD
from training.insights.trust import (
    FOUND_BY_BOTH,
    SHARED_AWAY,
    STABILITY_READINGS,
    agreement_figure,
    is_found_by_both,
    method_agreement,
    method_caveat,
    method_short,
    method_split,
    segment_trust,
    stability_reading,
)
from training.insights.wording import score_text


@pytest.mark.parametrize(
    ("jaccard", "reading"),
    [
        (0.3, "dissolves"),
        (0.599, "dissolves"),
        (0.6, "doubtful"),
        (0.749, "doubtful"),
        (0.75, "stable"),
        (0.849, "stable"),
        (0.85, "highly stable"),
        (1.0, "highly stable"),
    ],
)
def test_hennigs_reading(jaccard: float, reading: str) -> None:
    assert stability_reading(jaccard) == reading


def test_the_reading_s_bars_are_the_settings_defaults() -> None:
    assert [lower for lower, _ in STABILITY_READINGS] == [
        HIGHLY_STABLE_JACCARD,
        MIN_JACCARD,
        DISSOLVES_UNDER_JACCARD,
        0.0,
    ]


@pytest.mark.parametrize(
    ("ari", "agreement"),
    [
        (1.0, "same"),
        (0.9, "same"),
        (0.89, "strong"),
        (0.75, "strong"),
        (0.6, "moderate"),
        (0.5, "moderate"),
        (0.49, "weak"),
        (-0.1, "weak"),
    ],
)
def test_the_agreement_of_the_two_methods(ari: float, agreement: str) -> None:
    assert method_agreement(ari) == agreement


def _segment(sid: int, coarse: int, both: float | None) -> dict[str, Any]:
    match = {} if both is None else {"match": sid, "jaccard": both}
    return {"id": sid, "coarse_segment_id": coarse, "hierarchical_match": match}


#: Segments 0 and 1 share macro-segment 0; 2, 3 and 4 are alone in theirs.
SEGMENTS = [
    _segment(0, 0, 0.9),
    _segment(1, 0, 0.9),
    _segment(2, 1, 0.9),
    _segment(3, 2, 0.3),
    _segment(4, 3, None),
]
COARSE = [
    {"id": 0, "segments": [0, 1]},
    {"id": 1, "segments": [2]},
    {"id": 2, "segments": [3]},
    {"id": 3, "segments": [4]},
]


def test_each_segment_s_use_follows_its_stability_its_macro_segment_and_the_second_method() -> None:
    jaccard = {0: 0.55, 1: 0.9, 2: 0.7, 3: 0.8, 4: 0.95}
    trusts = segment_trust(SEGMENTS, COARSE, jaccard)
    assert [t.segment_id for t in trusts] == [0, 1, 2, 3, 4]
    assert [t.reading for t in trusts] == [
        "dissolves",
        "highly stable",
        "doubtful",
        "stable",
        "highly stable",
    ]
    assert [t.use for t in trusts] == [
        "macro-segment",  # does not come back, and shares its macro-segment
        "act",
        "with care",  # doubtful, but alone in its macro-segment
        "split by second method",  # stable, but the hierarchical reference does not find it
        "split by second method",  # no hierarchical match at all
    ]
    assert [t.coarse_segment_id for t in trusts] == [0, None, None, None, None]
    assert [t.both for t in trusts] == [0.9, 0.9, 0.9, 0.3, 0.0]
    assert [t.found_by_both for t in trusts] == [True, True, True, False, False]
    assert all((t.both >= FOUND_BY_BOTH) == t.found_by_both for t in trusts)


def test_a_segment_without_a_measured_stability_is_used_with_care() -> None:
    for jaccard in ({}, {0: 0.55, 1: 0.9, 2: 0.9, 3: 0.9}):
        trust = segment_trust(SEGMENTS, COARSE, jaccard)[4]
        assert (trust.jaccard, trust.reading, trust.use) == (None, "not measured", "unmeasured")
    unmeasured = segment_trust(SEGMENTS, COARSE, {})
    assert {t.use for t in unmeasured} == {"unmeasured"}


#: Segments 0-2 (rows) against hierarchical clusters 0-2 (columns): segment 2 is split, 58 %
#: of it in cluster 1 (whose majority is segment 1) and 41 % in cluster 2 (segment 0's).
COMPARISON: dict[str, Any] = {
    "labels_a": [0, 1, 2],
    "labels_b": [0, 1, 2],
    "contingency": [[900, 0, 500], [0, 1_000, 0], [10, 580, 410]],
    "best_match_jaccard": {
        "0": {"match": 0, "jaccard": 0.6},
        "1": {"match": 1, "jaccard": 0.63},
        "2": {"match": 1, "jaccard": 0.36},
    },
}


def test_where_the_second_method_puts_a_segment_it_splits() -> None:
    split = method_split(2, COMPARISON)
    assert split is not None and split.jaccard == 0.36
    # cluster 1 (segment 1's majority), then clusters 0 and 2 (segment 0's), summed
    assert [s for s, _ in split.parts] == [1, 0]
    assert [share for _, share in split.parts] == pytest.approx([0.58, 0.42])
    assert split.elsewhere() == list(split.parts)
    own = method_split(0, COMPARISON)
    assert own is not None and own.parts == ((0, 1.0),)  # both its clusters are mostly its own
    assert own.elsewhere() == []
    assert method_split(7, COMPARISON) is None
    assert method_split(0, {}) is None


def test_a_segment_the_second_method_splits_is_used_knowing_it() -> None:
    segments = [
        _segment(i, i, COMPARISON["best_match_jaccard"][str(i)]["jaccard"]) for i in range(3)
    ]
    coarse = [{"id": i, "segments": [i]} for i in range(3)]
    trusts = segment_trust(segments, coarse, {0: 0.9, 1: 0.9, 2: 0.9}, COMPARISON)
    assert [t.use for t in trusts] == ["act", "act", "split by second method"]
    # where the second method puts each segment is known for every segment (the caveat of a
    # segment found by both whose edge goes elsewhere needs it too)
    assert [t.split is not None for t in trusts] == [True, True, True]
    assert segment_trust(segments, coarse, {0: 0.9, 1: 0.9, 2: 0.9})[2].split is None


@pytest.mark.parametrize(
    ("jaccard", "warned"), [(None, False), (0.2, True), (FOUND_BY_BOTH - 0.01, True), (0.5, False)]
)
def test_the_warning_of_a_split_segment_fires_under_the_bar_only(
    jaccard: float | None, warned: bool
) -> None:
    caveat = method_caveat(jaccard)
    assert (caveat is not None) == warned
    if caveat is not None:
        assert f"Jaccard {jaccard:.2f}" in caveat and "second method splits" in caveat


#: Rows: segments 0, 1, 2; columns: three groups of the second method.
_MERGED = {
    "labels_a": [0, 1, 2],
    "labels_b": [0, 1, 2],
    # segment 2 stays together (90 % in group 1), but group 1 also takes most of segment 0
    "contingency": [[100, 900, 0], [0, 0, 800], [50, 450, 0]],
    "best_match_jaccard": {"2": {"match": 1, "jaccard": 0.3}},
}
_SPLIT = {
    "labels_a": [0, 1, 2],
    "labels_b": [0, 1, 2],
    # segment 2 is cut in two: half with segment 0's group, half with segment 1's
    "contingency": [[900, 0, 0], [0, 800, 0], [260, 240, 0]],
    "best_match_jaccard": {"2": {"match": 0, "jaccard": 0.22}},
}


def test_a_segment_the_second_method_merges_keeps_its_core() -> None:
    split = method_split(2, _MERGED)
    assert split is not None and split.merged
    assert split.kept == pytest.approx(0.9) and split.joined == ((0, 900),)
    sentence = method_caveat(0.3, split)
    assert sentence == (
        "The second method keeps 90 % of this segment together but adds 900 learners of "
        "other segments (most from segment 0) to its group (best-match Jaccard 0.30, under "
        "0.5): the core of the segment is found by both methods, only its edge is not, so act "
        "on it, and check a learner "
        "placed with low confidence before acting on them alone."
    )
    assert method_short(split) == "the second method merges its edge with part of segment 0"


def test_a_segment_the_second_method_splits_is_acted_on_as_a_whole_or_through_its_macro() -> None:
    split = method_split(2, _SPLIT)
    assert split is not None and not split.merged and split.kept == pytest.approx(0.52)
    sentence = method_caveat(0.22, split)
    assert sentence is not None and sentence.startswith(
        "The second method splits this segment (best-match Jaccard 0.22, under 0.5; "
        "52 % with most of segment 0, 48 % with most of segment 1)"
    )
    assert sentence.endswith(
        "act on it only with what suits all of it, or act on its macro-segment."
    )
    assert method_short(split) == "the second method splits it"
    # found by both, yet all of it with other segments' majorities: the edge caveat instead
    found = method_caveat(FOUND_BY_BOTH, split)
    assert found is not None and found.startswith("The second method finds this segment")


def test_every_score_is_written_with_one_rounding() -> None:
    # the same stored figure reads the same wherever it is quoted
    assert score_text(0.92496) == "0.92" and score_text(0.925001) == "0.93"
    assert method_caveat(0.48037992) is not None and "0.48" in str(method_caveat(0.48037992))


@pytest.mark.parametrize(("jaccard", "found"), [(0.4951, True), (0.5, True), (0.4949, False)])
def test_the_same_printed_jaccard_always_reads_the_same(jaccard: float, found: bool) -> None:
    # the bar is read on the printed figure: a printed 0.50 is always "found by both"
    assert is_found_by_both(jaccard) == found
    assert (score_text(jaccard) == "0.50") == found
    segments = [_segment(0, 0, jaccard)]
    trust = segment_trust(segments, [{"id": 0, "segments": [0]}], {0: 0.9})[0]
    assert trust.found_by_both == found
    assert (method_caveat(jaccard) is None) == found


def _edge(away: int) -> dict[str, Any]:
    """Segment 0 (1,000 learners) found by both, ``away`` of them with segment 1's group."""
    return {
        "labels_a": [0, 1],
        "labels_b": [0, 1],
        "contingency": [[1_000 - away, away], [0, 2_000]],
        "best_match_jaccard": {"0": {"match": 0, "jaccard": 0.6}},
    }


def test_a_segment_found_by_both_whose_large_edge_goes_elsewhere_gets_a_caveat() -> None:
    away = round(SHARED_AWAY * 1_000) + 120  # 37 %
    split = method_split(0, _edge(away))
    caveat = method_caveat(0.6, split)
    assert caveat is not None
    assert "finds this segment (best-match Jaccard 0.60)" in caveat
    assert f"37 % of its learners ({away:,} of 1,000) with most of segment 1" in caveat
    trust = segment_trust(
        [_segment(0, 0, 0.6)], [{"id": 0, "segments": [0]}], {0: 0.9}, _edge(away)
    )
    assert trust[0].use == "act" and method_caveat(trust[0].both, trust[0].split) == caveat


def test_a_segment_found_by_both_with_a_small_edge_elsewhere_gets_no_caveat() -> None:
    away = round(SHARED_AWAY * 1_000) - 10
    assert method_caveat(0.6, method_split(0, _edge(away))) is None


def test_the_agreement_of_the_methods_is_quoted_over_the_reference_s_seeds() -> None:
    one = agreement_figure({"ari": 0.7})
    assert one == ("ARI 0.70", "moderate", "moderate")
    seeds = [0.69, 0.74, 0.79, 0.72, 0.76]
    figure, low, high = agreement_figure(
        {"ari": 0.69, "ari_by_seed": seeds, "ari_median": 0.74, "ari_min": 0.69, "ari_max": 0.79}
    )
    assert figure == "ARI 0.74 (median of 5 seeds of the reference, range 0.69-0.79)"
    assert (low, high) == ("moderate", "strong")
    # within one reading, both ends read the same
    _, low, high = agreement_figure(
        {
            "ari": 0.8,
            "ari_by_seed": [0.8, 0.85],
            "ari_median": 0.825,
            "ari_min": 0.8,
            "ari_max": 0.85,
        }
    )
    assert low == high == "strong"

"""Segment profiles: figures in original units, lifts, z-scores, names, actions; profiles.json.

A profile is made from a group's figures against all learners' (:mod:`training.insights.figures`,
which either engine computes); its name comes from the vocabulary of
:mod:`training.insights.naming`, its actions from the rules of
:mod:`training.insights.actions` (docs/recommendations.md). :func:`build_profiles` and
:func:`build_coarse_profiles` compute the figures with pandas; the Spark engine aggregates them
itself and calls :func:`profiles_from_figures` and :func:`coarse_profiles_from_figures`.
:func:`profiles_document` assembles ``profiles.json``, naming the macro-segments so that each
name holds for every segment in it.

Every company-tier figure of a profile counts only learners whose company is known
(``company_tiers``, ``company_tier_shares``, the ``company_tier`` z-score), and the profile says
how many that is (``company_known``, ``company_known_share``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.config import DEFAULT_CLUSTER_FEATURES
from training.insights.actions import DEFAULT_THRESHOLDS, recommend_profiles, summary_actions
from training.insights.figures import (
    EXPERIENCE_BAND_LABELS,
    GroupFigures,
    PopulationFigures,
    data_quality,
    group_figures,
    population_figures,
)
from training.insights.naming import name_profiles
from training.insights.trust import method_caveat, method_split
from training.insights.wording import LPA
from training.runtime.courses import DEFAULT_COURSES, Course
from training.runtime.features import FEATURE_COLUMNS
from training.runtime.tracks import UNKNOWN_TRACK

__all__ = [
    "STALE_YEARS",
    "build_coarse_profiles",
    "build_profiles",
    "coarse_profiles_from_figures",
    "mirror_single_members",
    "population_summary",
    "profile_from_figures",
    "profiles_document",
    "profiles_from_figures",
    "with_paths",
]

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]

#: A CTC last updated this many years before the latest update counts as stale.
STALE_YEARS = 3


def _lifts(
    counts: Mapping[str, int], size: int, population: Mapping[str, int], total: int, top: int
) -> list[dict[str, Any]]:
    """The ``top`` commonest values of a group, with their share and lift over the population.

    ``counts`` is taken in its own order for ties (the pandas path passes ``value_counts``).
    """
    if size <= 0 or total <= 0:
        return []
    ordered = sorted(counts.items(), key=lambda item: -item[1])[:top]
    out = []
    for key, count in ordered:
        share = count / size
        out.append(
            {
                "name": str(key),
                "share": round(float(share), 4),
                "lift": round(float(share / (population[key] / total)), 3),
            }
        )
    return out


def profile_from_figures(group: GroupFigures, population: PopulationFigures) -> dict[str, Any]:
    """The profile of one group of learners (a segment or a macro-segment), names excluded.

    Parameters
    ----------
    group : GroupFigures
        The group's figures.
    population : PopulationFigures
        All learners' figures, the group is compared with.

    Returns
    -------
    dict
        The group's size and share, medians and percentiles in original units, lifts and
        z-scores against all learners, the shares names and actions read, and its data quality
        (the profile keys of ``profiles.json``, without ``id``, names and actions).
    """
    n = group.size
    z = {
        name: float(
            np.round(
                (group.feature_mean[name] - population.feature_mean[name])
                / (population.feature_std[name] or 1.0),
                3,
            )
        )
        for name in FEATURE_COLUMNS
    }
    z["company_tier"] = _known_tier_z(group.company_tiers, population.company_tiers)
    known, known_all = group.company_known, population.company_known
    keys = ("p10", "p50", "p90")
    years = dict(zip(keys, group.years_percentiles, strict=True))
    ctc = dict(zip(keys, group.ctc_percentiles, strict=True))
    incomplete = group.incomplete / n
    return {
        "size": n,
        "share": round(n / population.size, 4),
        "center": {
            "years_experience": round(group.years_median, 2),
            "ctc_inr": round(group.ctc_median),
            "ctc_lpa": round(group.ctc_median / LPA, 2),
        },
        "years_experience": {k: round(v, 2) for k, v in years.items()},
        "ctc_inr": {k: round(v) for k, v in ctc.items()},
        "ctc_lpa": {k: round(v / LPA, 2) for k, v in ctc.items()},
        "ctc_percentile": round(float(100.0 * group.ctc_rank / population.size), 1),
        "top_tracks": _lifts(group.tracks, n, population.tracks, population.size, 3),
        "company_tiers": _lifts(group.company_tiers, known, population.company_tiers, known_all, 3),
        "company_known": known,
        "company_known_share": round(known / n, 4),
        "feature_z": z,
        "pay_vs_peers_median": round(group.pay_vs_peers_median, 4),
        "incomplete_share": round(incomplete, 4),
        "incomplete_lift": round(
            incomplete / max(population.incomplete / population.size, 1e-9), 3
        ),
        "data_quality": data_quality(group, population),
        "pay_quartile_shares": {
            "bottom": round(group.pay_quartiles[0] / n, 4),
            "top": round(group.pay_quartiles[1] / n, 4),
        },
        "experience_shares": {
            label: round(group.experience_bands.get(b, (0, 0))[0] / n, 4)
            for b, label in enumerate(EXPERIENCE_BAND_LABELS)
        },
        "company_tier_shares": _tier_shares(group.company_tiers),
        "peer_flags": _flag_shares(group.flags, n),
        "below_experience_share": round(group.below_experience / n, 4),
        "above_experience_share": round(group.above_experience / n, 4),
        "ctc_years": {str(year): count for year, count in sorted(group.ctc_years.items())},
        "top_companies": [
            {
                "name": name,
                "learners": count,
                "share": round(count / n, 4),
                "lift": round((count / n) / (total / population.size), 2),
            }
            for name, count, total in group.top_companies
        ],
        "known_titles": n - group.tracks.get(UNKNOWN_TRACK, 0),
        "track_shares_known": _known_shares(group.tracks),
        "dominant_track": _dominant_track(group, population),
    }


def _tier_shares(tiers: Mapping[str, int]) -> dict[str, float]:
    """Each tier's share of the learners whose company is known (empty without any)."""
    known = sum(tiers.values())
    return {str(t): round(c / known, 4) for t, c in sorted(tiers.items())} if known else {}


def _known_shares(tracks: Mapping[str, int]) -> dict[str, float]:
    """Each track's share of the known titles, largest first."""
    known = {k: v for k, v in tracks.items() if k != UNKNOWN_TRACK}
    total = sum(known.values())
    if not total:
        return {}
    return {k: round(v / total, 4) for k, v in sorted(known.items(), key=lambda i: (-i[1], i[0]))}


def _known_tier_z(group: Mapping[str, int], population: Mapping[str, int]) -> float:
    """The z-score of the mean company tier, among learners whose company is known only.

    Computed from the tier counts, so that both engines give the same figure and a learner
    whose company is unknown (whose tier the model may impute, or leave empty) counts for
    nothing; 0 when the group or the population has no known company.
    """

    def level(tier: str) -> float:
        return float(tier.removeprefix("tier "))

    total, inside = sum(population.values()), sum(group.values())
    if not total or not inside:
        return 0.0
    mean = sum(level(t) * c for t, c in population.items()) / total
    spread = math.sqrt(sum((level(t) - mean) ** 2 * c for t, c in population.items()) / total)
    own = sum(level(t) * c for t, c in group.items()) / inside
    return round((own - mean) / (spread or 1.0), 3)


def _flag_shares(flags: Mapping[str, tuple[int, int, int]], n: int) -> dict[str, dict[str, float]]:
    return {
        name: {
            word: round(count / n, 4)
            for word, count in zip(("above", "at", "below"), counts, strict=True)
        }
        for name, counts in flags.items()
    }


def _dominant_track(group: GroupFigures, population: PopulationFigures) -> dict[str, Any] | None:
    """The track with the largest share among the group's known titles, with its lift."""
    known = {k: v for k, v in group.tracks.items() if k != UNKNOWN_TRACK}
    everyone = {k: v for k, v in population.tracks.items() if k != UNKNOWN_TRACK}
    if not known or not everyone:
        return None
    name = max(sorted(known), key=lambda k: known[k])
    share = known[name] / sum(known.values())
    base = everyone.get(name, 0) / sum(everyone.values())
    return {
        "name": name,
        "share": round(share, 4),
        "lift": round(share / base, 3) if base else 0.0,
    }


def population_summary(population: PopulationFigures) -> dict[str, Any]:
    """All learners' figures that names, actions and the report compare segments with.

    Parameters
    ----------
    population : PopulationFigures
        All learners' figures.

    Returns
    -------
    dict
        ``profiles.json``'s ``population``: quartiles of experience and pay, the shares of
        tracks (among known titles), company tiers (among learners whose company is known:
        ``company_known`` of them, ``company_known_share`` of all) and peer flags, the
        stale-pay year and the data quality (``company_unnamed_share``: no company name).
    """
    n = population.size
    keys = ("p25", "p50", "p75")
    known = {k: v for k, v in population.tracks.items() if k != UNKNOWN_TRACK}
    known_total = sum(known.values()) or 1
    latest = max(population.ctc_years) if population.ctc_years else 0
    return {
        "learners": n,
        "years_experience": dict(zip(keys, population.years_quartiles, strict=True)),
        "ctc_inr": {k: round(v) for k, v in zip(keys, population.ctc_quartiles, strict=True)},
        "ctc_lpa": {
            k: round(v / LPA, 2) for k, v in zip(keys, population.ctc_quartiles, strict=True)
        },
        "tracks_known": {
            k: round(v / known_total, 4) for k, v in sorted(known.items(), key=lambda i: -i[1])
        },
        "company_tier_shares": _tier_shares(population.company_tiers),
        "company_known": population.company_known,
        "company_known_share": round(population.company_known / n, 4),
        "peer_flags": _flag_shares(population.flags, n),
        "below_experience_share": round(population.below_experience / n, 4),
        "above_experience_share": round(population.above_experience / n, 4),
        "ctc_years": {str(y): c for y, c in sorted(population.ctc_years.items())},
        "stale_ctc_year": latest - STALE_YEARS,
        "no_title_share": round(sum(m for _, m in population.experience_bands.values()) / n, 4),
        "ctc_imputed_share": round(population.ctc_imputed / n, 4),
        "company_imputed_share": round(population.company_imputed / n, 4),
        "company_unnamed_share": round(population.company_unnamed / n, 4),
        "company_unknown": population.company_imputed,
        "company_unnamed": population.company_unnamed,
    }


def build_profiles(
    labels: IntArray,
    learners: pd.DataFrame,
    features: pd.DataFrame,
    *,
    centers: FloatArray,
    silhouette: Mapping[int, float],
    best_match: Mapping[int, Mapping[str, Any]],
    coarse: Mapping[int, int],
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
    inputs: Sequence[str] = DEFAULT_CLUSTER_FEATURES,
    catalogue: Sequence[Course] = DEFAULT_COURSES,
) -> list[dict[str, Any]]:
    """One profile per segment id in ``labels``, named and with its actions (pandas).

    Parameters
    ----------
    labels : ndarray of int, shape (n_learners,)
        Public segment ids.
    learners : DataFrame, shape (n_learners, ...)
        Cleaned learners (:func:`training.insights.figures.group_figures`).
    features : DataFrame, shape (n_learners, len(FEATURE_COLUMNS))
        Their features, row for row.
    centers : ndarray, shape (k, n_cluster_features)
        Centres in the scaled space, row i = segment id i.
    silhouette : mapping of int to float
        Segment id -> mean silhouette of the segment (on the evaluation sample).
    best_match : mapping of int to mapping
        Segment id -> ``{"match": hierarchical cluster, "jaccard": float}``.
    coarse : mapping of int to int
        Segment id -> coarse segment id.
    thresholds : mapping of str to float
        The recommendation rules' thresholds (``TrainingSettings``).
    inputs : sequence of str
        The model's inputs (``TrainingSettings.cluster_features``): the names state them.
    catalogue : sequence of Course
        The school's catalogue (``TrainingSettings.catalogue()``): the actions name it.

    Returns
    -------
    list of dict
        The segment profiles, sorted by id (:func:`profiles_from_figures`).
    """
    population_ctc = np.sort(learners["ctc"].to_numpy(np.float64))
    figures = {
        int(seg): group_figures(labels == seg, learners, features, population_ctc=population_ctc)
        for seg in np.unique(labels)
    }
    return profiles_from_figures(
        figures,
        population_figures(learners, features),
        centers=centers,
        silhouette=silhouette,
        best_match=best_match,
        coarse=coarse,
        thresholds=thresholds,
        inputs=inputs,
        catalogue=catalogue,
    )


def _warn_split(
    profiles: list[dict[str, Any]], comparison: Mapping[str, Any] | None = None
) -> None:
    """A segment the second method does not find says so (``method_caveat``): the report
    writes it beside every action of the segment, the service and the explorer serve it.
    With the comparison (its contingency) the sentence says whether the second method merges
    the segment with others or splits it, as the report's does."""
    for profile in profiles:
        jaccard = (profile.get("hierarchical_match") or {}).get("jaccard")
        if jaccard is None:
            profile["method_caveat"] = method_caveat(None)
            continue
        split = method_split(int(profile["id"]), comparison) if comparison else None
        profile["method_caveat"] = method_caveat(float(jaccard), split)


def profiles_from_figures(
    figures: Mapping[int, GroupFigures],
    population: PopulationFigures,
    *,
    centers: FloatArray,
    silhouette: Mapping[int, float],
    best_match: Mapping[int, Mapping[str, Any]],
    coarse: Mapping[int, int],
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
    inputs: Sequence[str] = DEFAULT_CLUSTER_FEATURES,
    catalogue: Sequence[Course] = DEFAULT_COURSES,
    comparison: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """:func:`build_profiles` from pre-aggregated figures.

    Parameters
    ----------
    figures : mapping of int to GroupFigures
        Segment id -> its figures.
    population : PopulationFigures
        All learners' figures.
    centers, silhouette, best_match, coarse, thresholds, inputs, catalogue
        As in :func:`build_profiles`.
    comparison : mapping, optional
        The K-Means vs hierarchical comparison (the manifest's ``metrics.comparison``): with
        it, ``method_caveat`` says whether the second method merges or splits the segment.

    Returns
    -------
    list of dict
        The segment profiles, sorted by id: each its figures (:func:`profile_from_figures`),
        nearest segment, silhouette, hierarchical match, coarse segment id, name
        (:func:`training.insights.naming.name_profiles`), actions
        (:func:`training.insights.actions.recommend_profiles`; ``no_action`` when none) and
        ``method_caveat`` (the warning beside its actions when the second method splits it;
        None otherwise).
    """
    ids = sorted(figures)
    profiles: list[dict[str, Any]] = []
    for seg in ids:
        profile: dict[str, Any] = {"id": seg}
        profile |= profile_from_figures(figures[seg], population)
        others = [o for o in ids if o != seg]
        if others:
            gaps = [float(np.linalg.norm(centers[seg] - centers[o])) for o in others]
            profile["nearest_segment"] = {
                "id": others[int(np.argmin(gaps))],
                "distance": round(min(gaps), 4),
            }
        profile["silhouette"] = round(float(silhouette.get(seg, float("nan"))), 4)
        profile["hierarchical_match"] = dict(best_match.get(seg, {}))
        profile["coarse_segment_id"] = int(coarse[seg])
        profiles.append(profile)
    summary = population_summary(population)
    name_profiles(profiles, summary, inputs=inputs)
    recommend_profiles(profiles, summary, thresholds, catalogue)
    _warn_split(profiles, comparison)
    return profiles


def build_coarse_profiles(
    coarse_labels: IntArray,
    learners: pd.DataFrame,
    features: pd.DataFrame,
    members: Mapping[int, Sequence[int]],
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
    *,
    segments: Sequence[Mapping[str, Any]] = (),
    inputs: Sequence[str] = DEFAULT_CLUSTER_FEATURES,
    catalogue: Sequence[Course] = DEFAULT_COURSES,
) -> list[dict[str, Any]]:
    """Profiles of the macro-segments, named and with their actions (pandas).

    Parameters
    ----------
    coarse_labels : ndarray of int, shape (n_learners,)
        Each learner's coarse segment id.
    learners, features : DataFrame
        As in :func:`build_profiles`.
    members : mapping of int to sequence of int
        Coarse id -> its segment ids.
    thresholds : mapping of str to float
        The recommendation rules' thresholds (``TrainingSettings``).
    segments, inputs, catalogue
        As in :func:`coarse_profiles_from_figures`.

    Returns
    -------
    list of dict
        The macro-segment profiles, sorted by id (:func:`coarse_profiles_from_figures`).
    """
    population_ctc = np.sort(learners["ctc"].to_numpy(np.float64))
    figures = {
        cid: group_figures(coarse_labels == cid, learners, features, population_ctc=population_ctc)
        for cid in members
    }
    return coarse_profiles_from_figures(
        figures,
        population_figures(learners, features),
        members,
        thresholds,
        segments=segments,
        inputs=inputs,
        catalogue=catalogue,
    )


def _members(
    coarse: Sequence[Mapping[str, Any]], segments: Sequence[Mapping[str, Any]]
) -> dict[int, list[Mapping[str, Any]]] | None:
    """Macro-segment id -> its segments' profiles; None unless every member is there."""
    by_id = {int(s["id"]): s for s in segments}
    wanted = {int(m) for c in coarse for m in c["segments"]}
    if not by_id or not wanted <= set(by_id):
        return None
    return {int(c["id"]): [by_id[int(m)] for m in c["segments"]] for c in coarse}


def coarse_profiles_from_figures(
    figures: Mapping[int, GroupFigures],
    population: PopulationFigures,
    members: Mapping[int, Sequence[int]],
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
    *,
    segments: Sequence[Mapping[str, Any]] = (),
    inputs: Sequence[str] = DEFAULT_CLUSTER_FEATURES,
    catalogue: Sequence[Course] = DEFAULT_COURSES,
) -> list[dict[str, Any]]:
    """:func:`build_coarse_profiles` from pre-aggregated figures.

    Parameters
    ----------
    figures : mapping of int to GroupFigures
        Coarse id -> its figures.
    population : PopulationFigures
        All learners' figures.
    members : mapping of int to sequence of int
        Coarse id -> its segment ids.
    thresholds : mapping of str to float
        The recommendation rules' thresholds.
    segments : sequence of mapping, optional
        The segment profiles: given, each macro-segment's name holds for every one of its
        segments (:func:`profiles_document` names them so in any case).
    inputs : sequence of str
        The model's inputs.
    catalogue : sequence of Course
        The school's catalogue.

    Returns
    -------
    list of dict
        The macro-segment profiles, sorted by id: each its ``segments``, figures, name,
        actions and ``no_action`` (why none, when none fires or its programmes went
        elsewhere).
    """
    profiles = []
    for cid in sorted(members):
        profile: dict[str, Any] = {"id": cid, "segments": sorted(int(s) for s in members[cid])}
        profile |= profile_from_figures(figures[cid], population)
        profiles.append(profile)
    summary = population_summary(population)
    name_profiles(profiles, summary, inputs=inputs, members=_members(profiles, segments))
    # A macro-segment of one segment is that segment: it takes no programme of its own (which
    # would repeat, or contradict, the segment's), and mirrors the segment's name and actions.
    merged = [p for p in profiles if len(p["segments"]) > 1]
    recommend_profiles(merged, summary, thresholds, catalogue, level="macro-segment")
    mirror_single_members(profiles, segments)
    return profiles


def mirror_single_members(
    coarse: Sequence[dict[str, Any]], segments: Sequence[Mapping[str, Any]]
) -> None:
    """Give every macro-segment of a single segment that segment's name and actions, in place.

    Parameters
    ----------
    coarse : sequence of dict
        Macro-segment profiles (``id``, ``segments``). One of a single segment takes the
        segment's ``name``, ``name_words``, ``actions`` and ``recommendations``, and a
        ``no_action`` that points to the segment (no new key: its ``segments`` says it).
    segments : sequence of mapping
        The segment profiles, when known (without them the name is kept and only the actions
        are emptied, pointing to the segment).
    """
    by_id = {int(s["id"]): s for s in segments}
    for macro in coarse:
        if len(macro["segments"]) != 1:
            continue
        sid = int(macro["segments"][0])
        member = by_id.get(sid)
        if member is not None:
            for key in ("name", "name_words"):
                if key in member:
                    macro[key] = copy.deepcopy(member[key])
        macro["actions"] = copy.deepcopy(list((member or {}).get("actions") or []))
        macro["recommendations"] = [a["text"] for a in macro["actions"]]
        macro["no_action"] = (
            None
            if macro["actions"]
            else f"It is segment {sid} alone: see segment {sid} (its actions, or why it has none)."
        )


def profiles_document(
    k: int,
    segments: list[dict[str, Any]],
    coarse: list[dict[str, Any]],
    population: PopulationFigures,
    jaccard: Mapping[int, float] | None = None,
    *,
    inputs: Sequence[str] = DEFAULT_CLUSTER_FEATURES,
) -> dict[str, Any]:
    """The ``profiles.json`` document: all learners' figures, a summary, the segments.

    Parameters
    ----------
    k : int
        The number of segments.
    segments, coarse : list of dict
        Segment and macro-segment profiles (:func:`profiles_from_figures`,
        :func:`coarse_profiles_from_figures`). The macro-segments are (re)named here, where
        both levels meet, so that each name holds for every segment in it.
    population : PopulationFigures
        All learners' figures.
    jaccard : mapping of int to float, optional
        Each segment's bootstrap stability by id, when measured.
    inputs : sequence of str
        The model's inputs (the names state them).

    Returns
    -------
    dict
        ``k``, ``population`` (:func:`population_summary`), ``summary`` (``segments`` by size,
        each with its name; ``actions``, the three to take first:
        :func:`training.insights.actions.summary_actions`), ``by_year`` (learners of each
        segment by the year their CTC was last updated), ``segments`` and ``coarse``.
    """
    summary = population_summary(population)
    members = _members(coarse, segments)
    if members is not None:
        name_profiles(coarse, summary, inputs=inputs, members=members)
    mirror_single_members(coarse, segments)
    years = sorted({int(y) for p in segments for y in p["ctc_years"]})
    by_year = {
        str(year): {str(p["id"]): p["ctc_years"].get(str(year), 0) for p in segments}
        for year in years
    }
    return {
        "k": k,
        "population": summary,
        "summary": {
            "segments": [
                {"id": p["id"], "name": p["name"], "share": p["share"]}
                for p in sorted(segments, key=lambda p: (-p["size"], p["id"]))
            ],
            "actions": summary_actions(segments, coarse, jaccard),
        },
        "by_year": by_year,
        "segments": segments,
        "coarse": coarse,
    }


def with_paths(document: Mapping[str, Any], paths: Mapping[str, Any]) -> dict[str, Any]:
    """``profiles.json`` with its ``paths``: each segment's career path and commonest what-if
    moves (:func:`training.insights.paths.career_paths`). A model written before them has no
    ``paths``; readers say so instead of showing them."""
    return {**document, "paths": dict(paths)}

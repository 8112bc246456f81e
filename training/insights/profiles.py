"""Segment profiles: figures in original units, lifts, z-scores, names, actions; profiles.json.

A profile is made from a group's figures against all learners' (:mod:`training.insights.figures`,
which either engine computes); its name comes from the vocabulary of
:mod:`training.insights.naming`, its actions from the catalogue of
:mod:`training.insights.actions` (docs/recommendations.md). :func:`build_profiles` and
:func:`build_coarse_profiles` compute the figures with pandas; the Spark engine aggregates them
itself and calls :func:`profiles_from_figures` and :func:`coarse_profiles_from_figures`.
:func:`profiles_document` assembles ``profiles.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

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
from training.insights.wording import LPA
from training.runtime.features import FEATURE_COLUMNS
from training.runtime.tracks import UNKNOWN_TRACK

__all__ = [
    "STALE_YEARS",
    "build_coarse_profiles",
    "build_profiles",
    "coarse_profiles_from_figures",
    "population_summary",
    "profile_from_figures",
    "profiles_document",
    "profiles_from_figures",
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
        "company_tiers": _lifts(
            group.company_tiers, n, population.company_tiers, population.size, 3
        ),
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
        "company_tier_shares": {
            str(tier): round(count / n, 4) for tier, count in sorted(group.company_tiers.items())
        },
        "peer_flags": _flag_shares(group.flags, n),
        "below_experience_share": round(group.below_experience / n, 4),
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
        "dominant_track": _dominant_track(group, population),
    }


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
        ``profiles.json``'s ``population``: quartiles of experience and pay, the shares of role
        families, company tiers and peer flags, the stale-pay year and the data quality.
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
        "company_tier_shares": {
            str(k): round(v / n, 4) for k, v in sorted(population.company_tiers.items())
        },
        "peer_flags": _flag_shares(population.flags, n),
        "below_experience_share": round(population.below_experience / n, 4),
        "ctc_years": {str(y): c for y, c in sorted(population.ctc_years.items())},
        "stale_ctc_year": latest - STALE_YEARS,
        "no_title_share": round(sum(m for _, m in population.experience_bands.values()) / n, 4),
        "ctc_imputed_share": round(population.ctc_imputed / n, 4),
        "company_imputed_share": round(population.company_imputed / n, 4),
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
        The recommendation catalogue's thresholds (``TrainingSettings``).

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
    )


def profiles_from_figures(
    figures: Mapping[int, GroupFigures],
    population: PopulationFigures,
    *,
    centers: FloatArray,
    silhouette: Mapping[int, float],
    best_match: Mapping[int, Mapping[str, Any]],
    coarse: Mapping[int, int],
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
) -> list[dict[str, Any]]:
    """:func:`build_profiles` from pre-aggregated figures.

    Parameters
    ----------
    figures : mapping of int to GroupFigures
        Segment id -> its figures.
    population : PopulationFigures
        All learners' figures.
    centers, silhouette, best_match, coarse, thresholds
        As in :func:`build_profiles`.

    Returns
    -------
    list of dict
        The segment profiles, sorted by id: each its figures (:func:`profile_from_figures`),
        nearest segment, silhouette, hierarchical match, coarse segment id, name
        (:func:`training.insights.naming.name_profiles`) and actions
        (:func:`training.insights.actions.recommend_profiles`).
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
    name_profiles(profiles, summary)
    recommend_profiles(profiles, summary, thresholds)
    return profiles


def build_coarse_profiles(
    coarse_labels: IntArray,
    learners: pd.DataFrame,
    features: pd.DataFrame,
    members: Mapping[int, Sequence[int]],
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
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
        The recommendation catalogue's thresholds (``TrainingSettings``).

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
        figures, population_figures(learners, features), members, thresholds
    )


def coarse_profiles_from_figures(
    figures: Mapping[int, GroupFigures],
    population: PopulationFigures,
    members: Mapping[int, Sequence[int]],
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
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
        The recommendation catalogue's thresholds.

    Returns
    -------
    list of dict
        The macro-segment profiles, sorted by id: each its ``segments``, figures, name and
        actions.
    """
    profiles = []
    for cid in sorted(members):
        profile: dict[str, Any] = {"id": cid, "segments": sorted(int(s) for s in members[cid])}
        profile |= profile_from_figures(figures[cid], population)
        profiles.append(profile)
    summary = population_summary(population)
    name_profiles(profiles, summary)
    recommend_profiles(profiles, summary, thresholds)
    return profiles


def profiles_document(
    k: int,
    segments: list[dict[str, Any]],
    coarse: list[dict[str, Any]],
    population: PopulationFigures,
    jaccard: Mapping[int, float] | None = None,
) -> dict[str, Any]:
    """The ``profiles.json`` document: all learners' figures, a summary, the segments.

    Parameters
    ----------
    k : int
        The number of segments.
    segments, coarse : list of dict
        Segment and macro-segment profiles (:func:`profiles_from_figures`,
        :func:`coarse_profiles_from_figures`).
    population : PopulationFigures
        All learners' figures.
    jaccard : mapping of int to float, optional
        Each segment's bootstrap stability by id, when measured.

    Returns
    -------
    dict
        ``k``, ``population`` (:func:`population_summary`), ``summary`` (``segments`` by size,
        each with its name; ``actions``, the three to take first:
        :func:`training.insights.actions.summary_actions`), ``by_year`` (learners of each
        segment by the year their CTC was last updated), ``segments`` and ``coarse``.
    """
    years = sorted({int(y) for p in segments for y in p["ctc_years"]})
    by_year = {
        str(year): {str(p["id"]): p["ctc_years"].get(str(year), 0) for p in segments}
        for year in years
    }
    return {
        "k": k,
        "population": population_summary(population),
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

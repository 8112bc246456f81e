"""Segment profiles: figures in original units, lifts, z-scores, names and recommendations.

Figures come from :class:`GroupFigures` and :class:`PopulationFigures`, which either engine
computes (pandas here, Spark aggregations in :mod:`training.spark.model`); everything after them
is shared. Names and recommendations come from documented rules over those figures, so the same
segment always gets the same words, and ``profiles.json`` keeps each word's rule and the figure
that met it.

Names: a vocabulary, each word with a rule on the segment's numbers against all learners.

==========================  ===================================================================
word                        rule
==========================  ===================================================================
Early-career                median experience at or below all learners' 25th percentile
Senior                      median experience at or above all learners' 75th percentile
Mid-career                  otherwise
low pay                     at least half the segment in all learners' bottom pay quartile
top pay                     at least half the segment in the top pay quartile
mid pay                     otherwise
tier-1 companies            at least half the segment at tier-1 companies
lower-paying companies      at least half at tier-3 companies
<family> roles              the role family with the largest share among known titles, when
                            its lift over all learners' known titles is at least 1.2
paid above / below          at least 60 % above / below colleagues with the same title at
same-title colleagues       their company (company x title peers)
==========================  ===================================================================

A name is the experience word and the pay word, then the most distinctive qualifier that fired
(companies, role, peers; ordered by how far the figure is past its threshold); while two names
are the same, each gets its next qualifier; a name still shared ends with its id.

Recommendations: the catalogue of :mod:`training.insights.actions` (docs/recommendations.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.config import MIN_JACCARD
from training.insights.actions import DEFAULT_THRESHOLDS, assign_actions
from training.insights.wording import LPA, lpa_text, pct_text
from training.runtime.cleaning import UNKNOWN_FAMILY
from training.runtime.features import FEATURE_COLUMNS

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]


#: The naming vocabulary's thresholds (module docstring).
HALF = 0.5
ROLE_LIFT = 1.2
PEERS_SHARE = 0.6
#: Hennig's bar for a segment's bootstrap Jaccard (the default a stable k needs, too): under
#: it the segment is doubtful or dissolves (it may not come back on new data), so its learners
#: are acted on through its macro-segment.
STABLE_JACCARD = MIN_JACCARD
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


def _percentiles(values: FloatArray) -> tuple[float, float, float]:
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return float(p10), float(p50), float(p90)


@dataclass(frozen=True)
class GroupFigures:
    """The aggregated figures of one group of learners that a profile is made from.

    Any engine can compute them: :func:`group_figures` does it with pandas, the Spark engine with
    Spark aggregations. Percentiles are linear (numpy's default); medians are the 50th percentile.

    Attributes
    ----------
    size : int
        Learners in the group.
    years_median, ctc_median : float
        Median years of experience and CTC.
    years_percentiles, ctc_percentiles : tuple of float
        10th, 50th and 90th percentiles.
    ctc_rank : int
        Learners of the whole population with a CTC at most the group's median CTC.
    feature_mean : mapping of str to float
        Mean of every feature in ``FEATURE_COLUMNS``.
    pay_vs_peers_median : float
    incomplete : int
        Learners without a job title or without a company.
    role_families, company_tiers : mapping of str to int
        Learners per role family and per ``"tier <n>"``; for ties, the first listed comes first.
    experience_bands : mapping of int to (int, int)
        Per experience band (:data:`EXPERIENCE_BANDS`, by index): learners, and learners of them
        without a job title.
    ctc_imputed : int
        Learners whose CTC could not be a yearly salary and was imputed.
    company_imputed : int
        Learners whose company's pay level was imputed (``company_known`` = 0).
    pay_quartiles : (int, int)
        Learners with a CTC at or below the population's 25th percentile, and at or above its
        75th.
    flags : mapping of str to (int, int, int)
        For ``"designation"``, ``"class"`` and ``"tier"`` (pay against company x title, title and
        company peers): learners above, at and below their peers.
    ctc_years : mapping of int to int
        Learners by the year their CTC was last updated.
    below_experience : int
        Learners paid at least 20 % less than the median learner with their experience
        (``pay_vs_experience`` <= -log(1.25)).
    top_companies : sequence of (str, int, int)
        The (up to) five commonest known companies: name, learners in the group, learners in
        the population; by learners in the group, then by name.
    """

    size: int
    years_median: float
    ctc_median: float
    years_percentiles: tuple[float, float, float]
    ctc_percentiles: tuple[float, float, float]
    ctc_rank: int
    feature_mean: Mapping[str, float]
    pay_vs_peers_median: float
    incomplete: int
    role_families: Mapping[str, int]
    company_tiers: Mapping[str, int]
    experience_bands: Mapping[int, tuple[int, int]]
    ctc_imputed: int
    company_imputed: int
    pay_quartiles: tuple[int, int]
    flags: Mapping[str, tuple[int, int, int]]
    ctc_years: Mapping[int, int]
    below_experience: int
    top_companies: Sequence[tuple[str, int, int]]


@dataclass(frozen=True)
class PopulationFigures:
    """Figures of all learners that group profiles are compared with.

    ``feature_std`` is the population standard deviation (ddof 0); zeros are read as 1.
    ``years_quartiles`` and ``ctc_quartiles`` are the 25th, 50th and 75th percentiles. The other
    fields are as in :class:`GroupFigures`.
    """

    size: int
    feature_mean: Mapping[str, float]
    feature_std: Mapping[str, float]
    incomplete: int
    role_families: Mapping[str, int]
    company_tiers: Mapping[str, int]
    experience_bands: Mapping[int, tuple[int, int]]
    ctc_imputed: int
    company_imputed: int
    years_quartiles: tuple[float, float, float]
    ctc_quartiles: tuple[float, float, float]
    flags: Mapping[str, tuple[int, int, int]]
    ctc_years: Mapping[int, int]
    below_experience: int


#: Pay against the median learner with the same experience at or below which a learner is
#: "paid at least 20 % less than the median learner with their experience".
BELOW_EXPERIENCE = -float(np.log(1.25))
#: The peer flags of the features, by the name the profiles use (1 above, 2 at, 3 below).
FLAG_FEATURES: dict[str, str] = {
    "designation": "designation_flag",
    "class": "class_flag",
    "tier": "tier_flag",
}
TOP_COMPANIES = 5


#: Lower edges of the experience bands (years) the expected share of missing titles is
#: computed by: 0-2, 3-4, 5-6, 7-9, 10-13 and 14+ years. Titles go missing more often early in a
#: career, so a segment of juniors is expected to hold more learners without one.
EXPERIENCE_BANDS: tuple[int, ...] = (3, 5, 7, 10, 14)
EXPERIENCE_BAND_LABELS: tuple[str, ...] = ("0-2", "3-4", "5-6", "7-9", "10-13", "14+")


def experience_band(years: FloatArray) -> IntArray:
    """Index of each learner's experience band (see :data:`EXPERIENCE_BANDS`)."""
    return np.searchsorted(np.asarray(EXPERIENCE_BANDS, np.float64), years, side="right")


def data_quality(group: GroupFigures, population: PopulationFigures) -> dict[str, float]:
    """How much of a group rests on missing or imputed values, against what is expected.

    ``no_title_expected_share`` is the share of learners without a title the group would have if
    titles went missing as in the whole population *at the same experience*: the population's
    rate in each experience band, weighted by the group's learners in those bands. The ratio of
    the actual to the expected share is 1 when the group holds no more and no fewer untitled
    learners than its experience explains; a segment made of missing data is far from 1.
    """
    n = group.size
    expected = 0.0
    for band, (learners, _) in group.experience_bands.items():
        total, missing = population.experience_bands.get(band, (0, 0))
        if total:
            expected += learners * missing / total
    no_title = sum(missing for _, missing in group.experience_bands.values())
    share, expected_share = no_title / n, expected / n
    return {
        "no_title_share": round(share, 4),
        "no_title_expected_share": round(expected_share, 4),
        "no_title_ratio": round(share / expected_share, 3) if expected_share else 1.0,
        "ctc_imputed_share": round(group.ctc_imputed / n, 4),
        "company_imputed_share": round(group.company_imputed / n, 4),
    }


def _tier_labels(features: pd.DataFrame) -> pd.Series:
    return features["company_tier"].astype(int).astype(str).radd("tier ")


def _incomplete(learners: pd.DataFrame) -> npt.NDArray[np.bool_]:
    return (learners["job_title"].isna() | learners["company"].isna()).to_numpy()


def _value_counts(values: pd.Series) -> dict[str, int]:
    labels = values.astype(object).where(values.notna(), "Unknown").astype(str)
    return {str(k): int(v) for k, v in labels.value_counts().items()}


def _experience_bands(
    learners: pd.DataFrame, features: pd.DataFrame, members: npt.NDArray[np.bool_] | None = None
) -> dict[int, tuple[int, int]]:
    band = experience_band(features["years_experience"].to_numpy(np.float64))
    no_title = learners["job_title"].isna().to_numpy()
    if members is not None:
        band, no_title = band[members], no_title[members]
    learners_per_band = np.bincount(band, minlength=len(EXPERIENCE_BAND_LABELS))
    missing_per_band = np.bincount(band[no_title], minlength=len(EXPERIENCE_BAND_LABELS))
    return {
        b: (int(learners_per_band[b]), int(missing_per_band[b]))
        for b in range(len(EXPERIENCE_BAND_LABELS))
        if learners_per_band[b]
    }


def _imputed_counts(
    learners: pd.DataFrame, features: pd.DataFrame, members: npt.NDArray[np.bool_] | None = None
) -> tuple[int, int]:
    ctc = learners["ctc_imputed"].to_numpy(bool)
    company = features["company_known"].to_numpy() == 0
    if members is not None:
        ctc, company = ctc[members], company[members]
    return int(ctc.sum()), int(company.sum())


def _flag_counts(features: pd.DataFrame) -> dict[str, tuple[int, int, int]]:
    out = {}
    for name, column in FLAG_FEATURES.items():
        values = features[column].to_numpy()
        above, at, below = (int((values == v).sum()) for v in (1.0, 2.0, 3.0))
        out[name] = (above, at, below)
    return out


def _year_counts(learners: pd.DataFrame) -> dict[int, int]:
    years = learners["ctc_updated_year"].to_numpy(np.float64).astype(np.int64)
    found, counts = np.unique(years, return_counts=True)
    return {int(y): int(c) for y, c in zip(found, counts, strict=True)}


def _below_experience(features: pd.DataFrame) -> int:
    return int((features["pay_vs_experience"].to_numpy() <= BELOW_EXPERIENCE).sum())


def _top_companies(
    company: pd.Series, members: npt.NDArray[np.bool_]
) -> list[tuple[str, int, int]]:
    known = company.notna().to_numpy()
    inside = company[members & known].value_counts()
    ranked = sorted(((-int(c), str(k)) for k, c in inside.items()))[:TOP_COMPANIES]
    if not ranked:
        return []
    everyone = company[known].value_counts()
    return [(name, -neg, int(everyone[name])) for neg, name in ranked]


def population_figures(learners: pd.DataFrame, features: pd.DataFrame) -> PopulationFigures:
    """:class:`PopulationFigures` of a learner frame and its feature frame (pandas)."""
    mean = features.mean()
    std = features.std(ddof=0)
    ctc_imputed, company_imputed = _imputed_counts(learners, features)
    years_q = np.percentile(features["years_experience"].to_numpy(np.float64), [25, 50, 75])
    ctc_q = np.percentile(learners["ctc"].to_numpy(np.float64), [25, 50, 75])
    return PopulationFigures(
        size=len(features),
        feature_mean={name: float(mean[name]) for name in FEATURE_COLUMNS},
        feature_std={name: float(std[name]) for name in FEATURE_COLUMNS},
        incomplete=int(_incomplete(learners).sum()),
        role_families=_value_counts(learners["role_family"]),
        company_tiers=_value_counts(_tier_labels(features)),
        experience_bands=_experience_bands(learners, features),
        ctc_imputed=ctc_imputed,
        company_imputed=company_imputed,
        years_quartiles=(float(years_q[0]), float(years_q[1]), float(years_q[2])),
        ctc_quartiles=(float(ctc_q[0]), float(ctc_q[1]), float(ctc_q[2])),
        flags=_flag_counts(features),
        ctc_years=_year_counts(learners),
        below_experience=_below_experience(features),
    )


def group_figures(
    members: npt.NDArray[np.bool_],
    learners: pd.DataFrame,
    features: pd.DataFrame,
    *,
    population_ctc: FloatArray,
) -> GroupFigures:
    """:class:`GroupFigures` of the learners in ``members`` (pandas).

    ``population_ctc`` is the sorted CTC of all learners (its quartiles place the group's pay).
    """
    years = features["years_experience"].to_numpy()[members]
    ctc = learners["ctc"].to_numpy(np.float64)[members]
    mean = features[members].mean()
    median_ctc = float(np.median(ctc))
    ctc_imputed, company_imputed = _imputed_counts(learners, features, members)
    low, high = np.percentile(population_ctc, [25, 75])
    return GroupFigures(
        size=int(members.sum()),
        years_median=float(np.median(years)),
        ctc_median=median_ctc,
        years_percentiles=_percentiles(years),
        ctc_percentiles=_percentiles(ctc),
        ctc_rank=int(np.searchsorted(population_ctc, median_ctc, side="right")),
        feature_mean={name: float(mean[name]) for name in FEATURE_COLUMNS},
        pay_vs_peers_median=float(np.median(features["pay_vs_peers"][members])),
        incomplete=int(_incomplete(learners)[members].sum()),
        role_families=_value_counts(learners["role_family"][members]),
        company_tiers=_value_counts(_tier_labels(features)[members]),
        experience_bands=_experience_bands(learners, features, members),
        ctc_imputed=ctc_imputed,
        company_imputed=company_imputed,
        pay_quartiles=(int((ctc <= low).sum()), int((ctc >= high).sum())),
        flags=_flag_counts(features[members]),
        ctc_years=_year_counts(learners[members]),
        below_experience=_below_experience(features[members]),
        top_companies=_top_companies(learners["company"], members),
    )


def profile_from_figures(group: GroupFigures, population: PopulationFigures) -> dict[str, Any]:
    """Figures of one group of learners (a segment or a macro-segment), names excluded."""
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
        "top_role_families": _lifts(
            group.role_families, n, population.role_families, population.size, 3
        ),
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
        "known_titles": n - group.role_families.get(UNKNOWN_FAMILY, 0),
        "dominant_family": _dominant_family(group, population),
    }


def _flag_shares(flags: Mapping[str, tuple[int, int, int]], n: int) -> dict[str, dict[str, float]]:
    return {
        name: {
            word: round(count / n, 4)
            for word, count in zip(("above", "at", "below"), counts, strict=True)
        }
        for name, counts in flags.items()
    }


def _dominant_family(group: GroupFigures, population: PopulationFigures) -> dict[str, Any] | None:
    """The role family with the largest share among the group's known titles, with its lift."""
    known = {k: v for k, v in group.role_families.items() if k != UNKNOWN_FAMILY}
    everyone = {k: v for k, v in population.role_families.items() if k != UNKNOWN_FAMILY}
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
    """All learners' figures that names, recommendations and the report compare segments with."""
    n = population.size
    keys = ("p25", "p50", "p75")
    known = {k: v for k, v in population.role_families.items() if k != UNKNOWN_FAMILY}
    known_total = sum(known.values()) or 1
    latest = max(population.ctc_years) if population.ctc_years else 0
    return {
        "learners": n,
        "years_experience": dict(zip(keys, population.years_quartiles, strict=True)),
        "ctc_inr": {k: round(v) for k, v in zip(keys, population.ctc_quartiles, strict=True)},
        "ctc_lpa": {
            k: round(v / LPA, 2) for k, v in zip(keys, population.ctc_quartiles, strict=True)
        },
        "role_families_known": {
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


def profile_group(
    members: npt.NDArray[np.bool_],
    learners: pd.DataFrame,
    features: pd.DataFrame,
    *,
    population_ctc: FloatArray,
) -> dict[str, Any]:
    """Figures of one group of learners (a segment or a macro-segment), names excluded.

    Parameters
    ----------
    members : ndarray of bool, shape (n_learners,)
    learners : DataFrame, shape (n_learners, ...)
        Cleaned learners (``ctc``, ``role_family``...).
    features : DataFrame, shape (n_learners, len(FEATURE_COLUMNS))
    population_ctc : ndarray, shape (n_learners,)
        Sorted CTC of all learners, to place the group's median.
    """
    return profile_from_figures(
        group_figures(members, learners, features, population_ctc=population_ctc),
        population_figures(learners, features),
    )


@dataclass(frozen=True)
class Word:
    """One word of a segment name, the rule that gives it and the figure that met the rule."""

    word: str
    kind: str
    rule: str
    figure: str
    strength: float  # how far the figure is past its threshold (1 = at it); orders qualifiers

    def to_dict(self) -> dict[str, str]:
        return {"word": self.word, "kind": self.kind, "rule": self.rule, "figure": self.figure}


def name_words(profile: Mapping[str, Any], population: Mapping[str, Any]) -> list[Word]:
    """The words a profile earns, by the vocabulary's rules (module docstring), in name order.

    Experience and pay always give a word; companies, role and peers only when their rule fires.
    """
    years = profile["center"]["years_experience"]
    p25, p75 = population["years_experience"]["p25"], population["years_experience"]["p75"]
    if years <= p25:
        experience = Word(
            "Early-career",
            "experience",
            "median experience at or below the 25th percentile of all learners",
            f"median {years:g} years; all learners' 25th percentile {p25:g}",
            1.0,
        )
    elif years >= p75:
        experience = Word(
            "Senior",
            "experience",
            "median experience at or above the 75th percentile of all learners",
            f"median {years:g} years; all learners' 75th percentile {p75:g}",
            1.0,
        )
    else:
        experience = Word(
            "Mid-career",
            "experience",
            "median experience between the 25th and 75th percentiles of all learners",
            f"median {years:g} years; all learners' 25th-75th percentiles {p25:g}-{p75:g}",
            1.0,
        )
    bottom, top = profile["pay_quartile_shares"]["bottom"], profile["pay_quartile_shares"]["top"]
    low_lpa, high_lpa = population["ctc_lpa"]["p25"], population["ctc_lpa"]["p75"]
    if bottom >= HALF:
        pay = Word(
            "low pay",
            "pay",
            "at least half in the bottom pay quartile of all learners",
            f"{pct_text(bottom)} earn {lpa_text(low_lpa)} or less",
            bottom / HALF,
        )
    elif top >= HALF:
        pay = Word(
            "top pay",
            "pay",
            "at least half in the top pay quartile of all learners",
            f"{pct_text(top)} earn {lpa_text(high_lpa)} or more",
            top / HALF,
        )
    else:
        pay = Word(
            "mid pay",
            "pay",
            "fewer than half in either the bottom or the top pay quartile",
            f"{pct_text(bottom)} in the bottom quartile, {pct_text(top)} in the top",
            1.0,
        )
    qualifiers: list[Word] = []
    tiers = profile["company_tier_shares"]
    if tiers.get("tier 1", 0.0) >= HALF:
        qualifiers.append(
            Word(
                "tier-1 companies",
                "companies",
                "at least half at tier-1 (best-paying) companies",
                f"{pct_text(tiers['tier 1'])} at tier-1 companies",
                tiers["tier 1"] / HALF,
            )
        )
    elif tiers.get("tier 3", 0.0) >= HALF:
        qualifiers.append(
            Word(
                "lower-paying companies",
                "companies",
                "at least half at tier-3 (lower-paying) companies",
                f"{pct_text(tiers['tier 3'])} at tier-3 companies",
                tiers["tier 3"] / HALF,
            )
        )
    family = profile["dominant_family"]
    if family is not None and family["lift"] >= ROLE_LIFT:
        qualifiers.append(
            Word(
                f"{family['name']} roles",
                "role",
                f"the commonest role family among known titles, {ROLE_LIFT:g}x or more as "
                "common as among all learners",
                f"{pct_text(family['share'])} of known titles, {family['lift']:.2f}x all learners'",
                family["lift"] / ROLE_LIFT,
            )
        )
    flags = profile["peer_flags"]["designation"]
    if flags["above"] >= PEERS_SHARE:
        qualifiers.append(
            Word(
                "paid above same-title colleagues",
                "peers",
                "at least 60 % paid above colleagues with the same title at their company",
                f"{pct_text(flags['above'])} above their company x title peers",
                flags["above"] / PEERS_SHARE,
            )
        )
    elif flags["below"] >= PEERS_SHARE:
        qualifiers.append(
            Word(
                "paid below same-title colleagues",
                "peers",
                "at least 60 % paid below colleagues with the same title at their company",
                f"{pct_text(flags['below'])} below their company x title peers",
                flags["below"] / PEERS_SHARE,
            )
        )
    qualifiers.sort(key=lambda w: -w.strength)
    return [experience, pay, *qualifiers]


def _compose(words: Sequence[Word]) -> str:
    first, *rest = (w.word for w in words)
    return ", ".join([first, *rest])


def name_profiles(profiles: list[dict[str, Any]], population: Mapping[str, Any]) -> None:
    """Name every profile in place: experience and pay, then its most distinctive qualifier;
    more qualifiers, most distinctive first, while two names are the same; the id last.

    Sets ``name`` and ``name_words`` (each word with its rule and the figure that met it).
    """
    earned = [name_words(p, population) for p in profiles]
    used = [min(len(w), 3) for w in earned]
    while True:
        names = [_compose(w[:u]) for w, u in zip(earned, used, strict=True)]
        clashes = {n for n in names if names.count(n) > 1}
        grow = [i for i, n in enumerate(names) if n in clashes and used[i] < len(earned[i])]
        if not grow:
            break
        for i in grow:
            used[i] += 1
    for profile, words, count, name in zip(profiles, earned, used, names, strict=True):
        profile["name"] = name if name not in clashes else f"{name} (#{profile['id']})"
        profile["name_words"] = [w.to_dict() for w in words[:count]]


def recommend_profiles(
    profiles: list[dict[str, Any]],
    population: Mapping[str, Any],
    thresholds: Mapping[str, float],
) -> None:
    """Give every profile its actions (:mod:`training.insights.actions`), in place.

    Sets ``actions`` (rule, text, figure, threshold, reach, score) and ``recommendations`` (the
    texts alone, as the service lists them).
    """
    for profile, actions in zip(
        profiles, assign_actions(profiles, population, thresholds), strict=True
    ):
        profile["actions"] = [a.to_dict() for a in actions]
        profile["recommendations"] = [a.text for a in actions]


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
    """One profile per segment id in ``labels`` (sorted by id), named and with its actions.

    Parameters
    ----------
    labels : ndarray of int, shape (n_learners,)
        Public segment ids.
    centers : ndarray, shape (k, n_cluster_features)
        Centres in the scaled space, row i = segment id i.
    silhouette : mapping id -> mean silhouette of the segment (on the evaluation sample)
    best_match : mapping id -> {"match": hierarchical cluster, "jaccard": float}
    coarse : mapping id -> coarse segment id
    thresholds : mapping of rule id -> threshold
        The recommendation catalogue's thresholds (``TrainingSettings``).
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
    """:func:`build_profiles` from pre-aggregated figures (segment id -> its figures)."""
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
    """Profiles of the macro-segments (``members``: coarse id -> its segment ids)."""
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
    """:func:`build_coarse_profiles` from pre-aggregated figures (coarse id -> its figures)."""
    profiles = []
    for cid in sorted(members):
        profile: dict[str, Any] = {"id": cid, "segments": sorted(int(s) for s in members[cid])}
        profile |= profile_from_figures(figures[cid], population)
        profiles.append(profile)
    summary = population_summary(population)
    name_profiles(profiles, summary)
    recommend_profiles(profiles, summary, thresholds)
    return profiles


def acted_through_coarse(
    segments: Sequence[Mapping[str, Any]],
    coarse: Sequence[Mapping[str, Any]],
    jaccard: Mapping[int, float] | None,
) -> dict[int, int]:
    """The segments to act on through their macro-segment: segment id -> macro-segment id.

    A segment whose bootstrap Jaccard is under :data:`STABLE_JACCARD` (doubtful or dissolving),
    in a macro-segment with other segments; a segment alone in its macro-segment has nothing
    coarser to fall back on and stays (the report says to act on it with care).
    """
    if not jaccard:
        return {}
    size = {int(c["id"]): len(c["segments"]) for c in coarse}
    out = {}
    for p in segments:
        cid = p.get("coarse_segment_id")
        j = jaccard.get(int(p["id"]))
        if j is not None and j < STABLE_JACCARD and cid is not None and size.get(int(cid), 0) > 1:
            out[int(p["id"])] = int(cid)
    return out


def first_action(profile: Mapping[str, Any]) -> dict[str, Any] | None:
    """A profile's action of the widest reach (ties: by rule)."""
    actions = sorted(profile["actions"], key=lambda a: (-a["reach"], a["rule"]))
    return dict(actions[0]) if actions else None


def summary_actions(
    segments: Sequence[Mapping[str, Any]],
    coarse: Sequence[Mapping[str, Any]],
    jaccard: Mapping[int, float] | None = None,
) -> list[dict[str, Any]]:
    """The three actions to take first.

    Each segment offers its action of the widest reach, except a segment acted on through its
    macro-segment (:func:`acted_through_coarse`): its macro-segment offers its own instead (once).
    The three of the largest reach are kept: three actions for three groups of learners.
    """
    through = acted_through_coarse(segments, coarse, jaccard)
    candidates = []
    for p in segments:
        if int(p["id"]) in through:
            continue
        action = first_action(p)
        if action is not None:
            candidates.append(
                {"level": "segment", "segment_id": p["id"], "segment_name": p["name"], **action}
            )
    for c in coarse:
        if int(c["id"]) not in through.values():
            continue
        action = first_action(c)
        if action is not None:
            candidates.append(
                {
                    "level": "macro-segment",
                    "segment_id": None,
                    "segment_name": c["name"],
                    "coarse_segment_id": c["id"],
                    "segments": sorted(c["segments"]),
                    **action,
                }
            )
    # Ties: a segment before a macro-segment (the narrower group), then by id and rule.
    candidates.sort(
        key=lambda a: (
            -a["reach"],
            a["level"] != "segment",
            a.get("segment_id") or 0,
            a.get("coarse_segment_id") or 0,
            a["rule"],
        )
    )
    return candidates[:3]


def profiles_document(
    k: int,
    segments: list[dict[str, Any]],
    coarse: list[dict[str, Any]],
    population: PopulationFigures,
    jaccard: Mapping[int, float] | None = None,
) -> dict[str, Any]:
    """The ``profiles.json`` document: all learners' figures, a summary, the segments.

    ``summary.segments`` lists the segments by size, each with its name; ``summary.actions`` the
    three actions to take first (:func:`summary_actions`; ``jaccard`` is each segment's
    bootstrap stability by id, when measured).
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

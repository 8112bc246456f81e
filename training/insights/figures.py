"""The figures a profile is made from: one group of learners, and all learners.

:class:`GroupFigures` and :class:`PopulationFigures` are counts, medians and percentiles in
original units, which either engine computes: :func:`group_figures` and
:func:`population_figures` here with pandas, :mod:`training.spark.model` with Spark
aggregations. Everything after them (:mod:`training.insights.profiles`) is shared, so both
engines give a segment the same profile, name and actions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.runtime.features import FEATURE_COLUMNS

__all__ = [
    "ABOVE_EXPERIENCE",
    "BELOW_EXPERIENCE",
    "EXPERIENCE_BANDS",
    "EXPERIENCE_BAND_LABELS",
    "FEW_LEARNERS",
    "FLAG_FEATURES",
    "MIN_KNOWN_SHARE",
    "SMALL_TABLE",
    "TOP_COMPANIES",
    "GroupFigures",
    "PopulationFigures",
    "data_quality",
    "experience_band",
    "group_figures",
    "population_figures",
]

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]


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
    tracks : mapping of str to int
        Learners per track; for ties, the first listed comes first.
    company_tiers : mapping of str to int
        Learners per ``"tier <n>"``, counting **only learners whose company is known**
        (``company_known`` = 1): an unknown company has no tier of its own, whatever the model
        does with it. Their sum is the group's learners with a known company.
    experience_bands : mapping of int to (int, int)
        Per experience band (:data:`EXPERIENCE_BANDS`, by index): learners, and learners of them
        without a job title.
    ctc_imputed : int
        Learners whose CTC could not be a yearly salary and was imputed.
    company_imputed : int
        Learners whose company is unknown (``company_known`` = 0): no company name, a company
        with fewer than ``min_group_size`` learners in training, or (when served) a company
        training never saw.
    company_unnamed : int
        Of them, learners with no company name at all (missing, or not a name: ``'0'``).
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
    above_experience : int
        Learners paid at least 25 % more than that median (``pay_vs_experience`` >= log(1.25)).
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
    tracks: Mapping[str, int]
    company_tiers: Mapping[str, int]
    experience_bands: Mapping[int, tuple[int, int]]
    ctc_imputed: int
    company_imputed: int
    pay_quartiles: tuple[int, int]
    flags: Mapping[str, tuple[int, int, int]]
    ctc_years: Mapping[int, int]
    below_experience: int
    above_experience: int
    company_unnamed: int
    top_companies: Sequence[tuple[str, int, int]]

    @property
    def company_known(self) -> int:
        """Learners whose company is known (the base of every tier figure)."""
        return sum(self.company_tiers.values())


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
    tracks: Mapping[str, int]
    company_tiers: Mapping[str, int]
    experience_bands: Mapping[int, tuple[int, int]]
    ctc_imputed: int
    company_imputed: int
    years_quartiles: tuple[float, float, float]
    ctc_quartiles: tuple[float, float, float]
    flags: Mapping[str, tuple[int, int, int]]
    ctc_years: Mapping[int, int]
    below_experience: int
    above_experience: int
    company_unnamed: int

    @property
    def company_known(self) -> int:
        """Learners whose company is known (the base of every tier figure)."""
        return sum(self.company_tiers.values())


#: Pay against the median learner with the same experience at or below which a learner is
#: "paid at least 20 % less than the median learner with their experience".
BELOW_EXPERIENCE = -float(np.log(1.25))
#: ... at or above which a learner is "paid at least 25 % more than" that median.
ABOVE_EXPERIENCE = float(np.log(1.25))
#: A figure counted on fewer learners than this is marked as resting on few learners, and is
#: never ranked among the "top" of anything (companies, actions, courses).
FEW_LEARNERS = 30
#: A figure about company tiers speaks for a group only when at least this share of its learners
#: have a known company: a group whose companies are mostly unknown gets no word about tiers.
MIN_KNOWN_SHARE = 0.5
#: Under this many learners the whole table is small: the report says so at the top.
SMALL_TABLE = 5_000
#: The peer flags of the features, by the name the profiles use (1 above, 2 at, 3 below).
FLAG_FEATURES: dict[str, str] = {
    "designation": "designation_flag",
    "class": "class_flag",
    "tier": "tier_flag",
}
#: The commonest known companies a group's figures list.
TOP_COMPANIES = 5


#: Lower edges of the experience bands (years) the expected share of missing titles is
#: computed by: 0-2, 3-4, 5-6, 7-9, 10-13 and 14+ years. Titles go missing more often early in a
#: career, so a segment of juniors is expected to hold more learners without one.
EXPERIENCE_BANDS: tuple[int, ...] = (3, 5, 7, 10, 14)
EXPERIENCE_BAND_LABELS: tuple[str, ...] = ("0-2", "3-4", "5-6", "7-9", "10-13", "14+")


def experience_band(years: FloatArray) -> IntArray:
    """Index of each learner's experience band.

    Parameters
    ----------
    years : ndarray of float, shape (n_learners,)
        Years of experience.

    Returns
    -------
    ndarray of int, shape (n_learners,)
        The band of each learner: an index into :data:`EXPERIENCE_BAND_LABELS`
        (edges :data:`EXPERIENCE_BANDS`).
    """
    return np.searchsorted(np.asarray(EXPERIENCE_BANDS, np.float64), years, side="right")


def data_quality(group: GroupFigures, population: PopulationFigures) -> dict[str, float]:
    """How much of a group rests on missing or imputed values, against what is expected.

    ``no_title_expected_share`` is the share of learners without a title the group would have if
    titles went missing as in the whole population *at the same experience*: the population's
    rate in each experience band, weighted by the group's learners in those bands. The ratio of
    the actual to the expected share is 1 when the group holds no more and no fewer untitled
    learners than its experience explains; a segment made of missing data is far from 1.

    Parameters
    ----------
    group : GroupFigures
        The group's figures.
    population : PopulationFigures
        All learners' figures.

    Returns
    -------
    dict of str to float
        ``no_title_share``, ``no_title_expected_share``, ``no_title_ratio``,
        ``ctc_imputed_share``, ``company_imputed_share`` (company unknown, for any reason) and
        ``company_unnamed_share`` (of them, no company name at all).
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
        "company_unnamed_share": round(group.company_unnamed / n, 4),
    }


def _tier_labels(features: pd.DataFrame) -> pd.Series:
    """``"tier <n>"`` of each learner whose company is known; the others are left out.

    ``company_tier`` may be imputed or NaN for an unknown company: neither is a tier figure.
    """
    tier = features["company_tier"]
    known = (features["company_known"].to_numpy() == 1) & np.isfinite(tier.to_numpy(np.float64))
    labels: pd.Series = tier[known].astype(int).astype(str).radd("tier ")
    return labels


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
) -> tuple[int, int, int]:
    """Learners with an imputed CTC, with an unknown company, and with no company name."""
    ctc = learners["ctc_imputed"].to_numpy(bool)
    company = features["company_known"].to_numpy() != 1
    unnamed = learners["company"].isna().to_numpy()
    if members is not None:
        ctc, company, unnamed = ctc[members], company[members], unnamed[members]
    return int(ctc.sum()), int(company.sum()), int(unnamed.sum())


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


def _experience_sides(features: pd.DataFrame) -> tuple[int, int]:
    """Learners paid at least 20 % under, and at least 25 % over, the median at their
    experience."""
    values = features["pay_vs_experience"].to_numpy()
    return int((values <= BELOW_EXPERIENCE).sum()), int((values >= ABOVE_EXPERIENCE).sum())


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
    """The figures of all learners (pandas).

    Parameters
    ----------
    learners : DataFrame, shape (n_learners, ...)
        Cleaned learners (``ctc``, ``job_title``, ``company``, ``track``...).
    features : DataFrame, shape (n_learners, len(FEATURE_COLUMNS))
        Their features, row for row.

    Returns
    -------
    PopulationFigures
    """
    mean = features.mean()
    std = features.std(ddof=0)
    ctc_imputed, company_imputed, company_unnamed = _imputed_counts(learners, features)
    below, above = _experience_sides(features)
    years_q = np.percentile(features["years_experience"].to_numpy(np.float64), [25, 50, 75])
    ctc_q = np.percentile(learners["ctc"].to_numpy(np.float64), [25, 50, 75])
    return PopulationFigures(
        size=len(features),
        feature_mean={name: float(mean[name]) for name in FEATURE_COLUMNS},
        feature_std={name: float(std[name]) for name in FEATURE_COLUMNS},
        incomplete=int(_incomplete(learners).sum()),
        tracks=_value_counts(learners["track"]),
        company_tiers=_value_counts(_tier_labels(features)),
        experience_bands=_experience_bands(learners, features),
        ctc_imputed=ctc_imputed,
        company_imputed=company_imputed,
        years_quartiles=(float(years_q[0]), float(years_q[1]), float(years_q[2])),
        ctc_quartiles=(float(ctc_q[0]), float(ctc_q[1]), float(ctc_q[2])),
        flags=_flag_counts(features),
        ctc_years=_year_counts(learners),
        below_experience=below,
        above_experience=above,
        company_unnamed=company_unnamed,
    )


def group_figures(
    members: npt.NDArray[np.bool_],
    learners: pd.DataFrame,
    features: pd.DataFrame,
    *,
    population_ctc: FloatArray,
) -> GroupFigures:
    """The figures of one group of learners (pandas).

    Parameters
    ----------
    members : ndarray of bool, shape (n_learners,)
        The group's learners.
    learners : DataFrame, shape (n_learners, ...)
        Cleaned learners (``ctc``, ``job_title``, ``company``, ``track``...).
    features : DataFrame, shape (n_learners, len(FEATURE_COLUMNS))
        Their features, row for row.
    population_ctc : ndarray of float, shape (n_learners,)
        The sorted CTC of all learners: its quartiles place the group's pay, and the group's
        median is ranked in it.

    Returns
    -------
    GroupFigures
    """
    years = features["years_experience"].to_numpy()[members]
    ctc = learners["ctc"].to_numpy(np.float64)[members]
    mean = features[members].mean()
    median_ctc = float(np.median(ctc))
    ctc_imputed, company_imputed, company_unnamed = _imputed_counts(learners, features, members)
    below, above = _experience_sides(features[members])
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
        tracks=_value_counts(learners["track"][members]),
        company_tiers=_value_counts(_tier_labels(features[members])),
        experience_bands=_experience_bands(learners, features, members),
        ctc_imputed=ctc_imputed,
        company_imputed=company_imputed,
        pay_quartiles=(int((ctc <= low).sum()), int((ctc >= high).sum())),
        flags=_flag_counts(features[members]),
        ctc_years=_year_counts(learners[members]),
        below_experience=below,
        above_experience=above,
        company_unnamed=company_unnamed,
        top_companies=_top_companies(learners["company"], members),
    )

"""Learner features, *fit* half (pandas, training only): the frozen peer-group tables.

:func:`fit_feature_tables` learns, from the cleaned one-row-per-learner table, the peer groups a
learner is compared with (companies, job titles, tracks, company x title pairs, the
population's pay-by-experience curve, the quantile bands of tiers and classes) into the frozen
:class:`~training.runtime.features.FeatureTables`. :func:`build_learner_data` cleans a raw
table, fits the tables and computes every learner's features with the runtime's
:func:`~training.runtime.features.compute_features`: the same code the service runs. The
features themselves are listed in :mod:`training.runtime.features`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from training.prep.cleaning import CleaningReport, clean_learners
from training.runtime.cleaning import CleaningRules
from training.runtime.features import (
    FEATURE_COLUMNS,
    PEER_SEP,
    FeatureTables,
    FloatArray,
    compute_features,
)
from training.runtime.tracks import UNKNOWN_TRACK

if TYPE_CHECKING:
    import pandas as pd

    from training.config import TrainingSettings

__all__ = [
    "PAY_BANDS",
    "LearnerData",
    "band_edges",
    "band_medians",
    "build_learner_data",
    "experience_curve",
    "fit_feature_tables",
]

#: Pay bands (of learners' own log CTC) that impute an unknown company's or title's median.
PAY_BANDS = 10


# --------------------------------------------------------------------------------------------
# Fit: pandas, training only.
# --------------------------------------------------------------------------------------------
def _medians(frame: pd.DataFrame, key: str | list[str], min_size: int) -> pd.Series:
    grouped = frame.groupby(key, sort=True)["log_ctc"]
    stats = grouped.agg(["size", "median"])
    return stats.loc[stats["size"] >= min_size, "median"]


def band_edges(values: FloatArray, bands: int) -> list[float]:
    """Inner edges of ``bands`` equal-count bands of ``values`` (numpy's linear quantiles)."""
    if values.size == 0:
        return []
    inner = np.quantile(values, np.linspace(0, 1, bands + 1)[1:-1])
    return [float(x) for x in inner]


def experience_curve(by_year: Mapping[int, float], max_year: int, population: float) -> list[float]:
    """Median log CTC for each year of experience 0..max_year, gaps filled from the nearest year.

    Parameters
    ----------
    by_year : mapping of int to float
        Median log CTC of the years of experience with at least ``min_group_size`` learners.
    max_year : int
        Largest years of experience seen (the curve has ``max(max_year, 0) + 1`` entries).
    population : float
        The whole curve when no year has enough learners.
    """
    curve = np.full(max(max_year, 0) + 1, np.nan)
    years = np.fromiter(by_year.keys(), np.intp, len(by_year))
    curve[years] = np.fromiter(by_year.values(), np.float64, len(by_year))
    known = np.flatnonzero(np.isfinite(curve))
    if known.size == 0:
        curve[:] = population
    else:  # nearest known year for the gaps
        idx = np.arange(curve.shape[0])
        nearest = known[np.abs(idx[:, None] - known[None, :]).argmin(axis=1)]
        curve = curve[nearest]
    return [float(x) for x in curve]


def fit_feature_tables(
    learners: pd.DataFrame, rules: CleaningRules, settings: TrainingSettings
) -> FeatureTables:
    """Learn the frozen peer-group tables from the cleaned one-row-per-learner table.

    Parameters
    ----------
    learners : DataFrame, shape (n_learners, ...)
        :func:`training.prep.cleaning.clean_learners` output (``company``, ``job_title``,
        ``track``, ``orgyear``, ``ctc``).
    rules : CleaningRules
        Gives the reference year.
    settings : TrainingSettings
        ``min_group_size``, ``n_tiers``, ``n_job_classes``, ``flag_tolerance``.
    """
    import pandas as pd

    min_size = settings.min_group_size
    frame = pd.DataFrame(
        {
            "company": learners["company"].astype(object),
            "job_title": learners["job_title"].astype(object),
            "track": learners["track"].astype(object),
            "log_ctc": np.log(learners["ctc"].to_numpy(dtype=np.float64)),
            "years": np.floor(rules.reference_year - learners["orgyear"].to_numpy(np.float64)),
        }
    )
    population = float(frame["log_ctc"].median())
    with_company = frame.dropna(subset=["company"])
    company_size = with_company.groupby("company", sort=True).size()
    company_median = _medians(with_company, "company", min_size)
    with_title = frame.dropna(subset=["job_title"])
    title_median = _medians(with_title, "job_title", min_size)
    track_median = _medians(frame[frame["track"] != UNKNOWN_TRACK], "track", min_size)
    pairs = frame.dropna(subset=["company", "job_title"])
    peer = _medians(pairs, ["company", "job_title"], min_size)
    peer_median = {
        f"{company}{PEER_SEP}{title}": float(value)
        for company, title, value in zip(
            peer.index.get_level_values(0), peer.index.get_level_values(1), peer, strict=True
        )
    }

    by_year = _medians(frame.assign(years=frame["years"].clip(lower=0)), "years", min_size)
    max_year = int(frame["years"].max()) if len(frame) else 0
    curve = experience_curve(
        dict(
            zip(
                by_year.index.to_numpy(np.intp).tolist(),
                by_year.to_numpy(np.float64).tolist(),
                strict=True,
            )
        ),
        max_year,
        population,
    )

    # Pay peers for a learner without a company (title) median: by decile band of own log CTC.
    log_ctc = frame["log_ctc"].to_numpy(np.float64)
    pay_edges = band_edges(log_ctc, PAY_BANDS)
    pay_band = np.searchsorted(np.asarray(pay_edges, np.float64), log_ctc, side="right")
    by_band = {
        name: band_medians(
            frame[key].map(medians).to_numpy(np.float64), pay_band, len(pay_edges) + 1, population
        )
        for name, key, medians in (
            ("company", "company", company_median),
            ("title", "job_title", title_median),
        )
    }

    return FeatureTables(
        reference_year=rules.reference_year,
        min_group_size=min_size,
        flag_tolerance=settings.flag_tolerance,
        population_median=population,
        company_size={str(k): int(v) for k, v in company_size.items()},
        company_median={str(k): float(v) for k, v in company_median.items()},
        title_median={str(k): float(v) for k, v in title_median.items()},
        track_median={str(k): float(v) for k, v in track_median.items()},
        peer_median=peer_median,
        experience_median=curve,
        tier_edges=band_edges(company_median.to_numpy(np.float64), settings.n_tiers),
        class_edges=band_edges(title_median.to_numpy(np.float64), settings.n_job_classes),
        pay_band_edges=pay_edges,
        company_median_by_band=by_band["company"],
        title_median_by_band=by_band["title"],
    )


def band_medians(
    values: FloatArray, band: npt.NDArray[np.intp], bands: int, fallback: float
) -> list[float]:
    """Median of the finite ``values`` in each band 0..bands-1 (``fallback`` for an empty band).

    Parameters
    ----------
    values : ndarray, shape (n_learners,)
        A peer figure per learner, NaN where the learner has none.
    band : ndarray of int, shape (n_learners,)
        Each learner's pay band.
    """
    known = np.isfinite(values)
    out = []
    for b in range(bands):
        chosen = values[known & (band == b)]
        out.append(float(np.median(chosen)) if chosen.size else float(fallback))
    return out


@dataclass
class LearnerData:
    """Everything the data layer hands the model: learners, their features, what was frozen."""

    learners: pd.DataFrame
    features: pd.DataFrame
    rules: CleaningRules
    tables: FeatureTables
    report: CleaningReport


def build_learner_data(raw: pd.DataFrame, settings: TrainingSettings) -> LearnerData:
    """Clean a raw table, fit the peer tables and compute every learner's features (batch path).

    Parameters
    ----------
    raw : DataFrame, shape (n_rows, 6)
        The loader's schema.
    settings : TrainingSettings
        Cleaning and feature knobs.

    Returns
    -------
    LearnerData
        ``features`` has shape (n_learners, len(FEATURE_COLUMNS)), aligned with ``learners``.
    """
    import pandas as pd

    cleaned = clean_learners(raw, settings)
    learners = cleaned.learners
    tables = fit_feature_tables(learners, cleaned.rules, settings)
    columns = {name: learners[name].to_numpy() for name in learners.columns}
    values = compute_features(columns, tables)
    features = pd.DataFrame({name: values[name] for name in FEATURE_COLUMNS}, index=learners.index)
    return LearnerData(
        learners=learners,
        features=features,
        rules=cleaned.rules,
        tables=tables,
        report=cleaned.report,
    )

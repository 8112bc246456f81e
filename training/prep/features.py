"""Learner features, *fit* half (pandas, training only): the frozen peer-group tables.

:func:`fit_feature_tables` learns, from the cleaned one-row-per-learner table, the peer groups a
learner is compared with (companies, job titles, tracks, company x title pairs, the
pay of learners by experience and year when their CTC was recorded (a median polish), the
quantile bands of tiers and classes) into the frozen
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

from training.prep.cleaning import CleaningReport, clean_learners, code_values
from training.runtime.cleaning import CleaningRules
from training.runtime.features import (
    FEATURE_COLUMNS,
    PEER_SEP,
    FeatureTables,
    FloatArray,
    compute_features,
)
from training.runtime.ops import Coded
from training.runtime.tracks import UNKNOWN_TRACK

if TYPE_CHECKING:
    import pandas as pd

    from training.config import TrainingSettings

__all__ = [
    "PAY_BANDS",
    "POLISH_ITERATIONS",
    "LearnerData",
    "PayAtRecord",
    "PayCells",
    "band_edges",
    "band_medians",
    "build_learner_data",
    "code_learners",
    "fit_feature_tables",
    "fit_pay_at_record",
    "record_experience",
    "weighted_median",
]

#: Pay bands (of learners' own log CTC) that impute a missing title's median.
PAY_BANDS = 10
#: The learners' text columns the peer groups are made of.
_TEXT_COLUMNS = ("company", "job_title", "track")
#: The learners' number columns the features read.
_NUMBER_COLUMNS = ("orgyear", "ctc", "ctc_updated_year", "n_records", "ctc_growth")


# --------------------------------------------------------------------------------------------
# Fit: pandas, training only.
# --------------------------------------------------------------------------------------------
def band_edges(values: FloatArray, bands: int) -> list[float]:
    """Inner edges of ``bands`` equal-count bands of ``values`` (numpy's linear quantiles)."""
    if values.size == 0:
        return []
    inner = np.quantile(values, np.linspace(0, 1, bands + 1)[1:-1])
    return [float(x) for x in inner]


@dataclass(frozen=True)
class PayCells:
    """Learners' log CTC by (years of experience at the record, record year): one entry a cell.

    Attributes
    ----------
    at_record, recorded : ndarray of int, shape (n_cells,)
        Whole years of experience when the CTC was recorded, and the year it was recorded.
    size : ndarray of int, shape (n_cells,)
        Learners in the cell.
    median : ndarray, shape (n_cells,)
        Their median log CTC.
    """

    at_record: npt.NDArray[np.int64]
    recorded: npt.NDArray[np.int64]
    size: npt.NDArray[np.int64]
    median: FloatArray


@dataclass(frozen=True)
class PayAtRecord:
    """The fitted two-way table: log CTC ~ baseline + experience effect + record-year effect.

    ``experience_effect[e]`` is the effect of ``e`` years of experience at the record,
    ``year_effect[i]`` that of the year ``first_year + i`` (0 for the latest year).
    """

    baseline: float
    experience_effect: list[float]
    year_effect: list[float]
    first_year: int


#: Sweeps of the median polish (Tukey's default; the effects settle in 3-4 on the default table).
POLISH_ITERATIONS = 10


def record_experience(recorded: FloatArray, orgyear: FloatArray) -> npt.NDArray[np.int64]:
    """Whole years of experience when the CTC was recorded (0 for a CTC of the start year)."""
    out: npt.NDArray[np.int64] = np.maximum(np.floor(recorded - orgyear), 0).astype(np.int64)
    return out


def weighted_median(values: FloatArray, weights: FloatArray) -> float:
    """Median of ``values`` with ``weights`` (> 0): the mean of the two middle values on a tie.

    NaN values (and their weights) are left out; 0 when none is left.
    """
    keep = np.isfinite(values) & (weights > 0)
    if not keep.any():
        return 0.0
    order = np.argsort(values[keep], kind="stable")
    v, w = values[keep][order], weights[keep][order]
    cumulative = np.cumsum(w)
    half = cumulative[-1] / 2.0
    i = int(np.searchsorted(cumulative, half, side="left"))
    if cumulative[i] == half and i + 1 < v.size:
        return float((v[i] + v[i + 1]) / 2.0)
    return float(v[i])


def _nearest_filled(values: FloatArray) -> FloatArray:
    """NaN entries replaced by the nearest finite entry (the lower one on a tie); all 0 if none."""
    known = np.flatnonzero(np.isfinite(values))
    if known.size == 0:
        return np.zeros_like(values)
    idx = np.arange(values.shape[0])
    nearest = known[np.abs(idx[:, None] - known[None, :]).argmin(axis=1)]
    out: FloatArray = values[nearest]
    return out


def fit_pay_at_record(cells: PayCells, min_size: int, population: float) -> PayAtRecord:
    """Fit log CTC ~ baseline + experience-at-record effect + record-year effect (median polish).

    Tukey's median polish of the table of cell medians (cells of at least ``min_size``
    learners), each median weighted by its cell's learners, for ``POLISH_ITERATIONS`` sweeps.
    Both engines fit it from the same cell table with this one function. Experience values and
    years without a cell take the nearest fitted one; the latest year's effect is 0.

    Parameters
    ----------
    cells : PayCells
        Every (experience at record, record year) cell of the training learners.
    min_size : int
        Cells with fewer learners are left out of the fit.
    population : float
        The baseline when no cell is large enough (every effect 0).
    """
    if cells.size.size == 0:
        return PayAtRecord(float(population), [0.0], [0.0], 0)
    first = int(cells.recorded.min())
    rows = int(cells.at_record.max()) + 1
    cols = int(cells.recorded.max()) - first + 1
    kept = cells.size >= min_size
    table = np.full((rows, cols), np.nan)
    weight = np.zeros((rows, cols))
    r, c = cells.at_record[kept], cells.recorded[kept] - first
    table[r, c] = cells.median[kept]
    weight[r, c] = cells.size[kept]
    if not kept.any():
        return PayAtRecord(float(population), [0.0] * rows, [0.0] * cols, first)
    row_effect, col_effect, baseline = np.zeros(rows), np.zeros(cols), 0.0
    row_weight, col_weight = weight.sum(axis=1), weight.sum(axis=0)
    residual = table.copy()
    for _ in range(POLISH_ITERATIONS):
        by_row = np.array([weighted_median(residual[i], weight[i]) for i in range(rows)])
        residual -= by_row[:, None]
        row_effect += by_row
        shift = weighted_median(col_effect, col_weight)
        col_effect -= shift
        baseline += shift
        by_col = np.array([weighted_median(residual[:, j], weight[:, j]) for j in range(cols)])
        residual -= by_col[None, :]
        col_effect += by_col
        shift = weighted_median(row_effect, row_weight)
        row_effect -= shift
        baseline += shift
    row_effect = _nearest_filled(np.where(row_weight > 0, row_effect, np.nan))
    col_effect = _nearest_filled(np.where(col_weight > 0, col_effect, np.nan))
    baseline += float(col_effect[-1])
    col_effect -= col_effect[-1]
    return PayAtRecord(
        baseline=float(baseline),
        experience_effect=[float(x) for x in row_effect],
        year_effect=[float(x) for x in col_effect],
        first_year=first,
    )


def code_learners(learners: pd.DataFrame) -> dict[str, Coded]:
    """The learners' text columns numbered once, in sorted order (the peer groups' order).

    :func:`fit_feature_tables` groups by these codes and
    :func:`~training.runtime.features.compute_features` looks the groups up by them.
    """
    return {name: code_values(learners[name], sort=True) for name in _TEXT_COLUMNS}


def fit_feature_tables(
    learners: pd.DataFrame,
    rules: CleaningRules,
    settings: TrainingSettings,
    coded: Mapping[str, Coded] | None = None,
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
    coded : mapping of str to Coded, optional
        :func:`code_learners` of ``learners``, by a caller that numbered them for the features
        too; numbered here when not given.
    """
    import pandas as pd

    min_size = settings.min_group_size
    coded = code_learners(learners) if coded is None else coded
    log_ctc = np.log(learners["ctc"].to_numpy(dtype=np.float64))
    population = float(pd.Series(log_ctc).median())
    # Every group's median is read off one sort of the learners by pay.
    by_pay = np.argsort(log_ctc, kind="stable")
    sorted_ctc = log_ctc[by_pay]
    company, title, track = (coded[name][by_pay] for name in _TEXT_COLUMNS)
    company_size, company_median = _medians(company, sorted_ctc, min_size)
    _, title_median = _medians(title, sorted_ctc, min_size)
    _, track_median = _medians(track, sorted_ctc, min_size, skip=UNKNOWN_TRACK)
    peer_median = _pair_medians(company, title, sorted_ctc, min_size)

    # Pay at the time it was recorded: log CTC by (experience at the record, record year).
    recorded = learners["ctc_updated_year"].to_numpy(np.float64)[by_pay]
    pay = fit_pay_at_record(
        _pay_cells(
            record_experience(recorded, learners["orgyear"].to_numpy(np.float64)[by_pay]),
            recorded.astype(np.int64),
            sorted_ctc,
        ),
        min_size,
        population,
    )

    # Pay peers for a learner without a title median: by decile band of own log CTC.
    pay_edges = band_edges(log_ctc, PAY_BANDS)
    pay_band = np.searchsorted(np.asarray(pay_edges, np.float64), log_ctc, side="right")
    by_title = np.array(
        [np.nan if t is None else title_median.get(str(t), np.nan) for t in title.uniques]
    )
    title_by_band = band_medians(
        by_title[coded["job_title"].codes], pay_band, len(pay_edges) + 1, population
    )

    return FeatureTables(
        reference_year=rules.reference_year,
        min_group_size=min_size,
        flag_tolerance=settings.flag_tolerance,
        population_median=population,
        company_size=company_size,
        company_median=company_median,
        title_median=title_median,
        track_median=track_median,
        peer_median=peer_median,
        pay_baseline=pay.baseline,
        pay_experience_effect=pay.experience_effect,
        pay_year_effect=pay.year_effect,
        pay_first_year=pay.first_year,
        tier_edges=band_edges(np.array(list(company_median.values())), settings.n_tiers),
        class_edges=band_edges(np.array(list(title_median.values())), settings.n_job_classes),
        pay_band_edges=pay_edges,
        title_median_by_band=title_by_band,
    )


def _group_stats(
    group: npt.NDArray[np.intp], groups: int, values: FloatArray
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Rows and median of ``values`` (ascending) in each group 0..groups-1 (NaN if empty).

    The values come sorted once for every grouping, so a stable sort of the group numbers
    leaves each group's values in order. The median of an even count is the mean of the two
    middle values, as pandas' group-by median.
    """
    ordered = values[np.argsort(group, kind="stable")]
    size = np.bincount(group, minlength=groups)
    start = np.cumsum(size) - size
    filled = size > 0
    lower = ordered[(start + (size - 1) // 2)[filled]]
    upper = ordered[(start + size // 2)[filled]]
    median = np.full(groups, np.nan)
    median[filled] = (lower + upper) / 2.0
    return size, median


def _medians(
    coded: Coded, log_ctc: FloatArray, min_size: int, skip: str | None = None
) -> tuple[dict[str, int], dict[str, float]]:
    """Learners and median log CTC (ascending) by value of a sorted-coded column, in that order.

    Medians only of groups of at least ``min_size`` learners; missing values and ``skip`` are
    no group.
    """
    size, median = _group_stats(coded.codes, len(coded.uniques), log_ctc)
    sizes: dict[str, int] = {}
    medians: dict[str, float] = {}
    for value, n, m in zip(coded.uniques, size.tolist(), median.tolist(), strict=True):
        if value is None or value == skip or not n:
            continue
        sizes[str(value)] = int(n)
        if n >= min_size:
            medians[str(value)] = float(m)
    return sizes, medians


def _pair_medians(
    company: Coded, title: Coded, log_ctc: FloatArray, min_size: int
) -> dict[str, float]:
    """Median log CTC (ascending) by company x title (both known), keyed ``company PEER_SEP title``.

    In sorted order of company, then title.
    """
    both = _known(company) & _known(title)
    width = len(title.uniques)
    pairs, pair = np.unique(
        company.codes[both].astype(np.int64) * width + title.codes[both], return_inverse=True
    )
    size, median = _group_stats(pair.reshape(-1), len(pairs), log_ctc[both])
    return {
        f"{company.uniques[key // width]}{PEER_SEP}{title.uniques[key % width]}": float(m)
        for key, n, m in zip(pairs.tolist(), size.tolist(), median.tolist(), strict=True)
        if n >= min_size
    }


def _known(coded: Coded) -> npt.NDArray[np.bool_]:
    """True where a coded column holds a value (not None)."""
    known: npt.NDArray[np.bool_] = np.array([v is not None for v in coded.uniques], bool)[
        coded.codes
    ]
    return known


def _pay_cells(
    at_record: npt.NDArray[np.int64], recorded: npt.NDArray[np.int64], log_ctc: FloatArray
) -> PayCells:
    """Learners and median log CTC (ascending) by (experience at the record, record year)."""
    if recorded.size == 0:
        empty = np.empty(0, np.int64)
        return PayCells(at_record=empty, recorded=empty, size=empty, median=np.empty(0))
    first = int(recorded.min())
    width = int(recorded.max()) - first + 1
    cells, cell = np.unique(at_record * width + (recorded - first), return_inverse=True)
    size, median = _group_stats(cell.reshape(-1), len(cells), log_ctc)
    return PayCells(
        at_record=cells // width, recorded=cells % width + first, size=size, median=median
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
    coded = code_learners(learners)
    tables = fit_feature_tables(learners, cleaned.rules, settings, coded)
    values = compute_features(
        {name: learners[name].to_numpy() for name in _NUMBER_COLUMNS} | coded, tables
    )
    features = pd.DataFrame({name: values[name] for name in FEATURE_COLUMNS}, index=learners.index)
    return LearnerData(
        learners=learners,
        features=features,
        rules=cleaned.rules,
        tables=tables,
        report=cleaned.report,
    )

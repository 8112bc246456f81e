"""Cleaning rules, *fit* half (pandas, training only): learn the rules, clean a whole table.

:func:`clean_learners` removes exact duplicates, learns the data-dependent parts of the rules
(:func:`fit_rules`: the CTC bound, the reference year, the title vocabulary, the pay-peer
medians that impute orgyear and the experience-peer medians that impute an implausible CTC)
into the frozen :class:`~training.runtime.cleaning.CleaningRules`, applies them with the
runtime's :func:`~training.runtime.cleaning.apply_rules` (the very code the service runs), counts
every rule in a :class:`CleaningReport` and collapses the table to one row per learner. The
rules themselves, in run order, are listed in :mod:`training.runtime.cleaning`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from training.runtime.cleaning import (
    RULES,
    CleaningRules,
    apply_rules,
    display_title,
    fold_title,
)
from training.runtime.ops import Coded
from training.runtime.schema import NUMERIC_COLUMNS, RAW_FIELDS, TEXT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

    from training.config import TrainingSettings

FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "LATEST_PLAUSIBLE_YEAR",
    "CleanedTable",
    "CleaningReport",
    "PeerFigures",
    "RuleCount",
    "check_plausible_ctc",
    "clean_learners",
    "code_values",
    "collapse_learners",
    "ctc_growth",
    "fit_rules",
    "learner_ids",
    "make_rules",
    "reference_years",
    "title_vocabulary",
    "year_curve",
]

#: The latest ``ctc_updated_year`` that can be a year (later ones are junk, not the reference).
LATEST_PLAUSIBLE_YEAR = 2100

_HEX64 = re.compile(r"[0-9a-f]{64}")
#: The columns of the rows :func:`collapse_learners` reads to pick and order records.
_COLLAPSE_KEYS = ("learner_id", "has_title", "order")


@dataclass
class RuleCount:
    """One rule of the report: its name, what it does and how many rows it touched."""

    name: str
    description: str
    count: int


@dataclass
class CleaningReport:
    """Rows in and out and the count of every rule, in run order; JSON-serialisable."""

    rows_in: int
    rows_out: int = 0
    learners: int = 0
    rules: list[RuleCount] = field(default_factory=list)

    def add(self, name: str, count: int) -> None:
        self.rules.append(RuleCount(name=name, description=RULES[name][0], count=int(count)))

    def counts(self) -> dict[str, int]:
        return {rule.name: rule.count for rule in self.rules}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Fit: pandas, training only.
# --------------------------------------------------------------------------------------------
@dataclass
class CleanedTable:
    """The result of cleaning a raw table: one row per learner, the frozen rules, the report."""

    learners: pd.DataFrame
    rules: CleaningRules
    report: CleaningReport


@dataclass(frozen=True)
class PeerFigures:
    """The peer figures that impute orgyear and an implausible CTC, learned by either engine.

    Fields as in :class:`~training.runtime.cleaning.CleaningRules`: pay peers impute orgyear
    (the median orgyear per decile band of log CTC, and of all valid rows), experience peers
    impute CTC (the median CTC per orgyear).
    """

    orgyear_band_edges: list[float]
    orgyear_band_values: list[float]
    orgyear_fallback: float
    ctc_by_orgyear: list[float]


def fit_rules(
    raw: pd.DataFrame, settings: TrainingSettings, coded: Mapping[str, Coded] | None = None
) -> CleaningRules:
    """Learn the data-dependent parts of the rules from a de-duplicated raw table.

    Parameters
    ----------
    raw : DataFrame
        Raw rows in the loader's schema (see :func:`training.data.load.load_learners`).
    settings : TrainingSettings
        Thresholds: ``orgyear_min``, CTC quantiles, ``min_title_learners``, ``reference_year``.
    coded : mapping of str to Coded, optional
        ``job_position`` and ``email_hash`` of ``raw`` already numbered (:func:`code_values`),
        by a caller that numbered them for other uses too; numbered here when not given.

    Returns
    -------
    CleaningRules
        The frozen rules (see :func:`make_rules`).

    Raises
    ------
    ValueError
        No row has a plausible yearly CTC, or no plausible ``ctc_updated_year`` gives the
        reference year (and the settings set none).
    """
    ctc = raw["ctc"].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        plausible_ctc = (
            np.isfinite(ctc)
            & (ctc >= settings.ctc_plausible_min)
            & (ctc <= settings.ctc_plausible_max)
        )
    check_plausible_ctc(int(plausible_ctc.sum()), settings)
    ctc_high = float(np.quantile(ctc[plausible_ctc], settings.ctc_upper_quantile))

    cuy = raw["ctc_updated_year"].to_numpy(dtype=np.float64, na_value=np.nan)
    plausible_cuy = cuy[
        np.isfinite(cuy) & (cuy >= settings.orgyear_min) & (cuy <= LATEST_PLAUSIBLE_YEAR)
    ]
    reference_year, cuy_fallback = reference_years(
        settings,
        latest=float(plausible_cuy.max()) if plausible_cuy.size else None,
        median=float(np.median(plausible_cuy)) if plausible_cuy.size else None,
    )
    if coded is None:
        coded = {name: code_values(raw[name].to_numpy()) for name in ("job_position", "email_hash")}
    return make_rules(
        settings,
        reference_year=reference_year,
        ctc_high=ctc_high,
        ctc_updated_year_fallback=cuy_fallback,
        title_map=_fit_titles(
            coded["job_position"], coded["email_hash"], settings.min_title_learners
        ),
        peers=_fit_peers(raw, ctc, plausible_ctc, ctc_high, reference_year, settings),
    )


def check_plausible_ctc(count: int, settings: TrainingSettings) -> None:
    """Refuse a table none of whose ``count`` rows has a plausible yearly CTC (both engines).

    Raises
    ------
    ValueError
        If ``count`` is 0, with one sentence naming the plausible range.
    """
    if not count:
        raise ValueError(
            "The learner table has no row with a plausible yearly CTC (between "
            f"{settings.ctc_plausible_min:,.0f} and {settings.ctc_plausible_max:,.0f}); "
            "nothing to learn from."
        )


def reference_years(
    settings: TrainingSettings, *, latest: float | None, median: float | None
) -> tuple[int, int]:
    """The reference year and the imputed ``ctc_updated_year``, the same for both engines.

    Parameters
    ----------
    settings : TrainingSettings
        ``reference_year``, when set, is used as it is.
    latest, median : float or None
        The latest and the median plausible ``ctc_updated_year`` (None: the table has none).

    Returns
    -------
    reference_year : int
        ``settings.reference_year``, else the latest plausible year + 1.
    ctc_updated_year_fallback : int
        The median plausible year (the reference year - 1 when there is none).

    Raises
    ------
    ValueError
        If neither the settings nor the table give a reference year.
    """
    if settings.reference_year is not None:
        reference_year = settings.reference_year
    elif latest is not None:
        reference_year = int(latest) + 1
    else:
        raise ValueError(
            "The learner table has no plausible ctc_updated_year; set reference_year explicitly."
        )
    return reference_year, int(median) if median is not None else reference_year - 1


def _fit_titles(title: Coded, email: Coded, min_learners: int) -> dict[str, str]:
    """Title vocabulary: learners (distinct emails) per folded title, commonest spelling shown.

    Each distinct raw title is folded once; a missing email counts as the empty one (both are
    one blank learner).
    """
    keys = [fold_title(t) if isinstance(t, str) else None for t in title.uniques]
    key_ids: dict[str, int] = {}
    key_of = np.array(
        [-1 if k is None else key_ids.setdefault(k, len(key_ids)) for k in keys], np.int64
    )
    blank = [i for i, e in enumerate(email.uniques) if e is None or e == ""]
    learner_of = np.arange(len(email.uniques))
    learner_of[blank] = blank[0] if blank else 0
    row_key = key_of[title.codes]
    titled = row_key >= 0
    width = max(len(email.uniques), 1)
    pairs = np.unique(row_key[titled] * width + learner_of[email.codes[titled]])
    learners_per_key = np.bincount(pairs // width, minlength=len(key_ids))
    rows_per_title = np.bincount(title.codes[titled], minlength=len(title.uniques))
    spellings: dict[tuple[str, str], int] = {}
    for raw, key, rows in zip(title.uniques, keys, rows_per_title.tolist(), strict=True):
        if key is not None and rows and learners_per_key[key_ids[key]] >= min_learners:
            spelling = (key, display_title(raw))
            spellings[spelling] = spellings.get(spelling, 0) + rows
    return title_vocabulary(spellings)


def _fit_peers(
    raw: pd.DataFrame,
    ctc: FloatArray,
    plausible_ctc: BoolArray,
    ctc_high: float,
    reference_year: int,
    settings: TrainingSettings,
) -> PeerFigures:
    """Pay peers and experience peers from the rows whose orgyear and CTC are valid."""
    org = raw["orgyear"].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        good = (
            np.isfinite(org)
            & (org >= settings.orgyear_min)
            & (org <= reference_year)
            & (org == np.floor(org))
            & plausible_ctc
        )
    good_ctc = np.minimum(ctc[good], ctc_high)
    log_ctc = np.log(good_ctc)
    edges: FloatArray = (
        np.unique(np.quantile(log_ctc, np.linspace(0.1, 0.9, 9))) if good.any() else np.empty(0)
    )
    band = np.searchsorted(edges, log_ctc, side="right")
    overall = float(np.median(org[good])) if good.any() else float(reference_year - 5)
    values = [
        float(np.median(org[good][band == b])) if np.any(band == b) else overall
        for b in range(len(edges) + 1)
    ]
    years, inverse, counts = np.unique(org[good], return_inverse=True, return_counts=True)
    by_year = {
        int(year): float(np.median(good_ctc[inverse == i]))
        for i, year in enumerate(years)
        if counts[i] >= settings.min_group_size
    }
    fallback_ctc = float(np.median(good_ctc if good.any() else ctc[plausible_ctc]))
    return PeerFigures(
        orgyear_band_edges=[float(e) for e in edges],
        orgyear_band_values=values,
        orgyear_fallback=overall,
        ctc_by_orgyear=year_curve(by_year, settings.orgyear_min, reference_year, fallback_ctc),
    )


def make_rules(
    settings: TrainingSettings,
    *,
    reference_year: int,
    ctc_high: float,
    ctc_updated_year_fallback: int,
    title_map: dict[str, str],
    peers: PeerFigures,
) -> CleaningRules:
    """Freeze learned figures into :class:`CleaningRules` (one place for the rounding of bounds).

    Used by :func:`fit_rules` (pandas) and by the Spark engine, which learns the same figures with
    Spark aggregations. ``ctc_high`` is the raw training quantile of plausible CTCs; it is rounded
    to whole rupees and kept inside the plausible range.
    """
    return CleaningRules(
        reference_year=int(reference_year),
        orgyear_min=settings.orgyear_min,
        ctc_min=float(settings.ctc_plausible_min),
        ctc_max=float(settings.ctc_plausible_max),
        ctc_high=float(
            min(max(round(ctc_high), settings.ctc_plausible_min), settings.ctc_plausible_max)
        ),
        ctc_updated_year_fallback=int(ctc_updated_year_fallback),
        title_map=title_map,
        orgyear_band_edges=peers.orgyear_band_edges,
        orgyear_band_values=peers.orgyear_band_values,
        orgyear_fallback=float(peers.orgyear_fallback),
        ctc_by_orgyear=[float(x) for x in peers.ctc_by_orgyear],
        tracks=settings.track_map(),
    )


def year_curve(
    by_year: Mapping[int, float], first_year: int, last_year: int, fallback: float
) -> list[float]:
    """One value per year from ``first_year`` to ``last_year``; gaps take the nearest year's.

    Parameters
    ----------
    by_year : mapping of int to float
        The years with enough rows and their value (years outside the range are ignored).
    fallback : float
        The whole curve when no year in range has a value.
    """
    span = np.arange(first_year, last_year + 1)
    known = np.array(sorted(y for y in by_year if first_year <= y <= last_year), dtype=np.intp)
    if known.size == 0:
        return [float(fallback)] * span.size
    nearest = known[np.abs(span[:, None] - known[None, :]).argmin(axis=1)]
    return [float(by_year[int(y)]) for y in nearest]


def title_vocabulary(spellings: Mapping[tuple[str, str], int]) -> dict[str, str]:
    """Folded title -> display title: the commonest spelling of each kept key.

    Parameters
    ----------
    spellings : mapping of (folded key, display spelling) to rows
        Only keys held by at least ``min_title_learners`` learners.

    Returns
    -------
    dict of str to str
        Sorted by key; ties in rows go to the spelling that sorts first.
    """
    best: dict[str, tuple[int, str]] = {}
    for (key, shown), count in spellings.items():
        current = best.get(key)
        if current is None or count > current[0] or (count == current[0] and shown < current[1]):
            best[key] = (count, shown)
    return {key: best[key][1] for key in sorted(best)}


def code_values(values: Any, *, sort: bool = False) -> Coded:
    """``values`` numbered once (:func:`pandas.factorize`); missing ones (None, NaN) as None.

    The codes of a column are reused by every step that groups or looks up by it, so each
    column is hashed once. ``sort`` numbers the distinct values in sorted order (as a sorted
    group-by lists them); None, if any, is the last entry.
    """
    import pandas as pd

    codes, uniques = pd.factorize(values, sort=sort)
    distinct: list[Any] = list(uniques.tolist())
    missing = codes < 0
    if missing.any():
        codes = np.where(missing, len(distinct), codes)
        distinct.append(None)
    return Coded(codes.astype(np.intp, copy=False), distinct)


def _first_rows(columns: Sequence[Coded]) -> npt.NDArray[np.intp]:
    """Positions of the first of each set of identical rows (the rows drop_duplicates keeps)."""
    import pandas as pd

    key = np.zeros(len(columns[0]), np.int64)
    span = 1
    for column in columns:
        if span * len(column.uniques) >= 1 << 63:  # renumbered, so the key stays within int64
            key, distinct = pd.factorize(key)
            span = len(distinct)
        key = key * len(column.uniques) + column.codes
        span *= len(column.uniques)
    return np.flatnonzero(~pd.Series(key).duplicated().to_numpy())


def clean_learners(raw: pd.DataFrame, settings: TrainingSettings) -> CleanedTable:
    """Clean a raw learner table and collapse it to one row per learner.

    Parameters
    ----------
    raw : DataFrame, shape (n_rows, 6)
        The loader's schema: ``company_hash``, ``email_hash``, ``orgyear``, ``ctc``,
        ``job_position``, ``ctc_updated_year``.
    settings : TrainingSettings
        Cleaning thresholds.

    Returns
    -------
    CleanedTable
        ``learners`` (one row per email_hash: ``learner_id``, ``company``, ``job_title``,
        ``track``, ``orgyear``, ``ctc``, ``ctc_updated_year``, ``ctc_imputed``,
        ``n_records``, ``ctc_growth``), the frozen rules and the counted report.
    """
    import pandas as pd

    report = CleaningReport(rows_in=len(raw))
    # Every column is numbered once: the codes find the duplicates, then the text columns'
    # codes serve the title vocabulary, the rules and the learner ids.
    coded = {name: code_values(raw[name].to_numpy()) for name in raw.columns}
    kept = _first_rows(list(coded.values()))
    table = raw.take(kept).reset_index(drop=True)
    text = {name: coded[name][kept] for name in TEXT_COLUMNS}
    report.add("exact_duplicates_dropped", len(raw) - len(table))

    rules = fit_rules(table, settings, text)
    clean = apply_rules(
        {c: text[c] for c in RAW_FIELDS if c in TEXT_COLUMNS}
        | {c: table[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in NUMERIC_COLUMNS},
        rules,
    )
    for name in RULES:
        if name in clean.touched:
            report.add(name, int(clean.touched[name].sum()))

    learner_id, malformed, learner = _learner_codes(text["email_hash"], np.arange(len(table)))
    report.add("email_hash_malformed", int(malformed.sum()))

    rows = pd.DataFrame(
        {
            "learner_id": learner_id,
            "company": clean.company,
            "job_title": clean.job_title,
            "track": clean.track,
            "orgyear": clean.orgyear,
            "ctc": clean.ctc,
            "ctc_updated_year": clean.ctc_updated_year,
            "ctc_imputed": clean.ctc_imputed,
            "has_title": pd.notna(clean.job_title),
            "order": np.arange(len(table)),
        }
    )[clean.valid]
    report.rows_out = len(rows)
    learners = collapse_learners(rows, learner[clean.valid])
    report.add("one_row_per_learner", len(rows) - len(learners))
    report.learners = len(learners)
    return CleanedTable(learners=learners, rules=rules, report=report)


def collapse_learners(
    rows: pd.DataFrame, learner: npt.NDArray[np.intp] | None = None
) -> pd.DataFrame:
    """One row per learner: the latest record, preferring one with a job title, then file order.

    History kept: ``n_records`` (rows of the learner after exact de-duplication) and
    ``ctc_growth``, the yearly log growth of CTC from the earliest to the latest record
    (0 when all records share one year). ``order`` is the file order (distinct values); the
    learners come out in the file order of their kept record. ``learner`` numbers the rows'
    ``learner_id`` (one number per id, as a caller that has them already numbered passes
    them); numbered here when not given.
    """
    if learner is None:
        learner = code_values(rows["learner_id"].to_numpy()).codes
    year = rows["ctc_updated_year"].to_numpy(np.float64)
    ranked = np.lexsort(
        (
            rows["order"].to_numpy(),
            rows["has_title"].to_numpy(bool),
            year,
            learner,
        )
    )
    # Each learner's records are a run of the ranking: its first and its last (kept) record.
    bounds = np.append(np.flatnonzero(np.diff(learner[ranked], prepend=-1)), len(ranked))
    first, last = ranked[bounds[:-1]], ranked[bounds[1:] - 1]
    n_records = np.diff(bounds)
    ctc = rows["ctc"].to_numpy(np.float64)
    per_year = ctc_growth(ctc[first], ctc[last], year[last] - year[first])
    shown = np.argsort(rows["order"].to_numpy()[last], kind="stable")
    kept = ["learner_id", *(c for c in rows.columns if c not in _COLLAPSE_KEYS)]
    out = rows.take(last[shown])[kept].reset_index(drop=True)
    out["n_records"] = n_records[shown].astype(np.float64)
    out["ctc_growth"] = per_year[shown]
    return out


def learner_ids(
    email: ObjectArray | Coded, rows: npt.NDArray[np.intp]
) -> tuple[ObjectArray, BoolArray]:
    """Learner id of each de-duplicated row, and whether its email_hash is malformed.

    Parameters
    ----------
    email : ndarray of object or Coded, shape (n,)
        ``email_hash`` (str or None), possibly already numbered (:func:`code_values`).
    rows : ndarray of int, shape (n,)
        Position of each row in the de-duplicated table: a row without an email is its own
        learner (it has no history to merge with), with the id ``row-<position>``.
    """
    ids, malformed, _ = _learner_codes(email, rows)
    return ids, malformed


def _learner_codes(
    email: ObjectArray | Coded, rows: npt.NDArray[np.intp]
) -> tuple[ObjectArray, BoolArray, npt.NDArray[np.intp]]:
    """:func:`learner_ids`, and a number per learner (the email's, else one of the row's own)."""
    coded = email if isinstance(email, Coded) else code_values(email)
    named = np.array([isinstance(e, str) and e != "" for e in coded.uniques], bool)[coded.codes]
    well_formed = np.array(
        [isinstance(e, str) and _HEX64.fullmatch(e) is not None for e in coded.uniques], bool
    )
    ids = coded.decoded()
    own = np.flatnonzero(~named)
    ids[own] = [f"row-{i}" for i in rows[own]]
    learner = np.where(named, coded.codes, len(coded.uniques) + np.arange(len(ids)))
    return ids, ~well_formed[coded.codes], learner


def ctc_growth(first_ctc: FloatArray, last_ctc: FloatArray, years: FloatArray) -> FloatArray:
    """Yearly log growth of CTC from a learner's earliest to latest record (0 within one year)."""
    growth = np.log(last_ctc / first_ctc)
    out: FloatArray = np.divide(growth, years, out=np.zeros_like(growth), where=years > 0)
    return out

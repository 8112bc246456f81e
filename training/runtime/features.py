"""Learner-level features, *transform* half: frozen peer-group tables applied with numpy only.

*Fit* (training only, pandas, :mod:`training.prep.features`): ``fit_feature_tables`` learns, from
the cleaned one-row-per-learner table, the peer groups a learner is compared with: companies, job
titles, tracks and company x title pairs, each with its size and median log CTC, the pay of
learners by experience and year at the record, and the quantile bands of tiers and classes.

*Transform* (training and serving, numpy only): :func:`compute_features` turns cleaned column arrays
of any length into the feature columns, using nothing but the frozen :class:`FeatureTables`;
:func:`learner_features` runs the cleaning rules and the features for one raw learner (n = 1).

Features (all float64; ``FEATURE_COLUMNS`` is their order):

==================  ===============================================================================
years_experience    reference_year - orgyear (the reference year is frozen at training, never "now")
log_ctc             natural log of the cleaned CTC
n_records           history: rows the learner had in the table (1 for a served learner)
ctc_growth          history: yearly log growth of CTC over the learner's records (0 without history)
log_company_size    log(1 + learners of the company in training); 0 for an unknown company
company_tier        1..n_tiers from quantile bands of company median CTC (1 = best paid); an
                    unknown company counts at the population's pay level (see below)
job_class           1..n_job_classes from quantile bands of job-title median CTC (1 = best
                    paid); imputed from pay peers when the title is missing
pay_vs_company      log CTC minus the company's median, the population's for an unknown company
                    (tier flag's basis)
pay_vs_title        log CTC minus the job title's median (class flag's basis)
pay_vs_peers        log CTC minus the company x title median (designation flag's basis)
pay_vs_experience   log CTC minus the typical log CTC of learners with the same experience in the
                    year the CTC was recorded (experience at ``ctc_updated_year``; see below)
designation_flag    1 above / 2 at / 3 below the company x title peers (+-flag_tolerance)
class_flag          1 / 2 / 3 against the job title's peers
tier_flag           1 / 2 / 3 against the company's peers
company_known       1 when the company had at least min_group_size learners in training
title_known         1 when the title's group (the title, or for a rare title the group of rare
                    titles of its track) had at least min_group_size learners in training
==================  ===============================================================================

Pay compared at the time it was paid: a CTC recorded in 2015 is compared with what learners of the
same experience *then* were paid *then*, not with today's pay of learners who have as many years
now. ``fit_pay_at_record`` (training) fits a two-way table by median polish, log CTC ~
``pay_baseline`` + an effect of the years of experience when the CTC was recorded
(``ctc_updated_year`` - ``orgyear``: ``pay_experience_effect``) + an effect of the record year
(``pay_year_effect``, 0 for the latest year); ``pay_vs_experience`` is log CTC minus that sum. The
effects are frozen here and applied with numpy in training and serving alike.

Fallbacks: a group with fewer than ``min_group_size`` learners is not used; the learner falls back
to the next coarser group: company x title -> company -> title for peers, title -> track
for titles. Companies and titles never seen in training take the same path.

A company figure comes from the company, never from the learner's own pay. A learner whose
company is unknown (missing, not a name, never seen or fewer than ``min_group_size`` learners in
training: ``company_known`` = 0, about 29 % of learners on the default table) counts at the
population's pay level: its company median is the population median, so its ``company_tier`` is
the tier of the population median (tier 2 on the default table), the level that says least about
it, and ``pay_vs_company`` is its pay against the population. Before, that median was imputed from
the learner's own CTC decile, which re-encoded the learner's pay as a company figure for a third
of learners (docs/segmentation.md measures the alternatives). ``company_known`` says whose
company figures are real: every tier figure a profile quotes counts those learners only, and the
service warns the learner.

A missing title's median is imputed from *pay peers*: the median title median of learners whose
title is known and whose own CTC falls in the same decile band (``pay_band_edges``), so those
learners spread over the job classes as learners like them do (with the median of learners
without a title they formed a job class of their own); ``title_known`` = 0 flags it. The tables
are fitted in training and applied by this one function in training and in serving alike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from training.runtime.cleaning import (
    CleaningRules,
    CleanRows,
    apply_rules,
    describe_touches,
)
from training.runtime.ops import ARRAY, SCALAR, Ops

__all__ = [
    "FALLBACKS",
    "FALLBACK_FLAGS",
    "FEATURE_COLUMNS",
    "PEER_SEP",
    "FeatureTables",
    "LearnerFeatures",
    "clean_columns",
    "compute_features",
    "fallback_masks",
    "fallback_warnings",
    "learner_features",
]

FloatArray = npt.NDArray[np.float64]

FEATURE_COLUMNS: tuple[str, ...] = (
    "years_experience",
    "log_ctc",
    "n_records",
    "ctc_growth",
    "log_company_size",
    "company_tier",
    "job_class",
    "pay_vs_company",
    "pay_vs_title",
    "pay_vs_peers",
    "pay_vs_experience",
    "designation_flag",
    "class_flag",
    "tier_flag",
    "company_known",
    "title_known",
)

PEER_SEP = "\t"
"""Joins company and title in the keys of ``FeatureTables.peer_median``."""


@dataclass(frozen=True)
class FeatureTables:
    """Frozen peer-group tables; JSON-serialisable and all a served learner needs.

    Medians are of natural-log CTC. Only groups with at least ``min_group_size`` learners have a
    median; ``company_size`` counts every company seen. ``pay_band_edges`` are the inner decile
    edges of learners' log CTC; ``title_median_by_band`` (one value per band) imputes the
    title's median for a learner without one. An unknown company's median is
    ``population_median``.
    """

    reference_year: int
    min_group_size: int
    flag_tolerance: float
    population_median: float
    company_size: dict[str, int]
    company_median: dict[str, float]
    title_median: dict[str, float]
    track_median: dict[str, float]
    peer_median: dict[str, float]
    pay_baseline: float
    pay_experience_effect: list[float]
    pay_year_effect: list[float]
    pay_first_year: int
    tier_edges: list[float]
    class_edges: list[float]
    pay_band_edges: list[float]
    title_median_by_band: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureTables:
        return cls(
            reference_year=int(data["reference_year"]),
            min_group_size=int(data["min_group_size"]),
            flag_tolerance=float(data["flag_tolerance"]),
            population_median=float(data["population_median"]),
            company_size={str(k): int(v) for k, v in data["company_size"].items()},
            company_median={str(k): float(v) for k, v in data["company_median"].items()},
            title_median={str(k): float(v) for k, v in data["title_median"].items()},
            track_median={str(k): float(v) for k, v in data["track_median"].items()},
            peer_median={str(k): float(v) for k, v in data["peer_median"].items()},
            pay_baseline=float(data["pay_baseline"]),
            pay_experience_effect=[float(x) for x in data["pay_experience_effect"]],
            pay_year_effect=[float(x) for x in data["pay_year_effect"]],
            pay_first_year=int(data["pay_first_year"]),
            tier_edges=[float(x) for x in data["tier_edges"]],
            class_edges=[float(x) for x in data["class_edges"]],
            pay_band_edges=[float(x) for x in data["pay_band_edges"]],
            title_median_by_band=[float(x) for x in data["title_median_by_band"]],
        )


# --------------------------------------------------------------------------------------------
# Transform: numpy over cleaned columns, n = 1 or n = 200,000.
# --------------------------------------------------------------------------------------------
def _band(ops: Ops, values: Any, edges: list[float]) -> Any:
    """1 for the top band (best paid) .. len(edges) + 1 for the bottom band."""
    return (len(edges) + 1 - ops.band(edges, values)) * 1.0


def _flag(ops: Ops, diff: Any, band: float) -> Any:
    """1 above, 2 at, 3 below the peer median, with a band of +-log1p(tolerance)."""
    return ops.where(diff > band, 1.0, ops.where(diff < -band, 3.0, 2.0))


def _company_stats(company: Any, tables: FeatureTables) -> tuple[float, float, float]:
    """Company size, median log CTC (NaN when unknown: the caller takes the population's),
    known (1/0)."""
    if not isinstance(company, str):
        return 0.0, math.nan, 0.0
    size = float(tables.company_size.get(company, 0))
    median = tables.company_median.get(company)
    if median is None:
        return size, math.nan, 0.0
    return size, median, 1.0


def _companies_stats(
    companies: Sequence[Any], tables: FeatureTables
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`_company_stats` of many companies, as its three columns (C-level dict lookups)."""
    keys = [company if isinstance(company, str) else None for company in companies]
    n = len(keys)
    sizes: Callable[..., Any] = tables.company_size.get
    medians: Callable[..., Any] = tables.company_median.get
    size = np.fromiter(map(sizes, keys, itertools.repeat(0)), np.float64, n)
    median = np.fromiter(map(medians, keys, itertools.repeat(math.nan)), np.float64, n)
    known = np.fromiter(map(tables.company_median.__contains__, keys), np.float64, n)
    return size, median, known


def _title_stats(title: Any, track: Any, tables: FeatureTables) -> tuple[float, float]:
    """Title median log CTC (a rare title: its track's), known (1/0); NaN when unknown."""
    if not isinstance(title, str):
        return math.nan, 0.0
    median = tables.title_median.get(title)
    if median is None:
        return tables.track_median.get(track, math.nan), 0.0
    return median, 1.0


def _impute(ops: Ops, median: Any, by_band: list[float], pay_band: Any) -> Any:
    """``median`` where known, else the median of learners in the same pay band."""
    return ops.where(ops.isfinite(median), median, ops.take(by_band, pay_band))


def _pair_median(company: Any, title: Any, tables: FeatureTables) -> tuple[float]:
    """Company x title median log CTC; NaN when that peer group is unknown."""
    if isinstance(company, str) and isinstance(title, str):
        return (tables.peer_median.get(company + PEER_SEP + title, math.nan),)
    return (math.nan,)


def _pay_at_record(ops: Ops, columns: Mapping[str, Any], tables: FeatureTables, n: int) -> Any:
    """Typical log CTC of learners with the same experience when the CTC was recorded, that year.

    ``pay_baseline`` + the effect of the years of experience at the record (``ctc_updated_year``
    - ``orgyear``) + the effect of the record year, from the frozen two-way table; experience and
    years outside the fitted range take the nearest fitted one.
    """
    recorded = columns.get("ctc_updated_year")
    last_year = tables.pay_first_year + len(tables.pay_year_effect) - 1
    year = ops.full(n, float(last_year)) if recorded is None else ops.floats(recorded)
    at_record = ops.maximum(year - ops.floats(columns["orgyear"]), 0.0)
    by_experience, by_year = tables.pay_experience_effect, tables.pay_year_effect
    return (
        tables.pay_baseline
        + ops.take(by_experience, ops.to_index(at_record, len(by_experience) - 1))
        + ops.take(by_year, ops.to_index(year - tables.pay_first_year, len(by_year) - 1))
    )


def compute_features(
    columns: Mapping[str, Any],
    tables: FeatureTables,
    ops: Ops = ARRAY,
    names: Collection[str] | None = None,
) -> dict[str, Any]:
    """Feature values from cleaned learner columns, with the frozen tables only (no pandas).

    Parameters
    ----------
    columns : mapping
        Cleaned values: ``company`` and ``job_title`` (str or None), ``track`` (str),
        each possibly a :class:`~training.runtime.ops.Coded` column (array backend),
        ``orgyear``, ``ctc`` and ``ctc_updated_year`` (float; without it, the latest year of
        the pay table); optional history ``n_records`` and ``ctc_growth``
        (default 1 and 0). Arrays of length n with ``ops=ARRAY``, one learner's values with
        ``ops=SCALAR``.
    tables : FeatureTables
        The frozen peer-group tables.
    ops : ARRAY or SCALAR
        The backend (see :mod:`training.runtime.ops`); both give identical results.
    names : collection of str, optional
        Only these features (the service asks for the model's and the two ``*_known`` flags;
        the company x title lookup, the costliest, runs only when a feature needs it).

    Returns
    -------
    dict of str to ndarray of shape (n,) or float
        One value per name in ``FEATURE_COLUMNS`` (or in ``names``), in that order.
    """
    ctc = ops.floats(columns["ctc"])
    n = ops.length(ctc)
    # Peer figures, with the fallbacks of the module docstring: company x title, else the
    # company when known, else the title (track); an unknown company's median is the
    # population's, an unknown title's is imputed from pay peers.
    company, title = columns["company"], columns["job_title"]
    size, company_med, company_known = ops.lookup(
        _company_stats, (company,), 3, tables, many=_companies_stats
    )
    title_med, title_known = ops.lookup(_title_stats, (title, columns["track"]), 2, tables)
    log_ctc = ops.log(ctc)
    pay_band = ops.band(tables.pay_band_edges, log_ctc)
    company_med = ops.where(ops.isfinite(company_med), company_med, tables.population_median)
    title_med = _impute(ops, title_med, tables.title_median_by_band, pay_band)
    years = ops.maximum(tables.reference_year - ops.floats(columns["orgyear"]), 0.0)
    pay_vs_company = log_ctc - company_med
    pay_vs_title = log_ctc - title_med
    band = math.log1p(tables.flag_tolerance)
    values: dict[str, Any] = {
        "years_experience": years,
        "log_ctc": log_ctc,
        "company_tier": _band(ops, company_med, tables.tier_edges),
        "job_class": _band(ops, title_med, tables.class_edges),
        "pay_vs_company": pay_vs_company,
        "pay_vs_title": pay_vs_title,
        "company_known": company_known,
        "title_known": title_known,
    }
    wanted = FEATURE_COLUMNS if names is None else names
    if "pay_vs_peers" in wanted or "designation_flag" in wanted:
        (pair_med,) = ops.lookup(_pair_median, (company, title), 1, tables)
        peer_med = ops.where(
            ops.isfinite(pair_med), pair_med, ops.where(company_known > 0, company_med, title_med)
        )
        values["pay_vs_peers"] = pay_vs_peers = log_ctc - peer_med
        values["designation_flag"] = _flag(ops, pay_vs_peers, band)
    if "pay_vs_experience" in wanted:
        values["pay_vs_experience"] = log_ctc - _pay_at_record(ops, columns, tables, n)
    if "n_records" in wanted:
        n_records = columns.get("n_records")
        values["n_records"] = ops.full(n, 1.0) if n_records is None else ops.floats(n_records)
    if "ctc_growth" in wanted:
        ctc_growth = columns.get("ctc_growth")
        values["ctc_growth"] = ops.full(n, 0.0) if ctc_growth is None else ops.floats(ctc_growth)
    if "log_company_size" in wanted:
        values["log_company_size"] = ops.log1p(size)
    if "class_flag" in wanted:
        values["class_flag"] = _flag(ops, pay_vs_title, band)
    if "tier_flag" in wanted:
        values["tier_flag"] = _flag(ops, pay_vs_company, band)
    return {name: values[name] for name in wanted}


def clean_columns(clean: CleanRows) -> dict[str, Any]:
    """The cleaned columns of :class:`CleanRows` under the names :func:`compute_features` reads."""
    coded = clean.coded
    return {
        "company": coded.get("company", clean.company),
        "job_title": coded.get("job_title", clean.job_title),
        "track": coded.get("track", clean.track),
        "orgyear": clean.orgyear,
        "ctc": clean.ctc,
        "ctc_updated_year": clean.ctc_updated_year,
    }


@dataclass(slots=True)
class LearnerFeatures:
    """One learner's features, the warnings its cleaning and fallbacks raised, and usability."""

    features: dict[str, float]
    warnings: list[str]
    valid: bool


def learner_features(
    raw: Mapping[str, Any],
    rules: CleaningRules,
    tables: FeatureTables,
    *,
    n_records: float = 1.0,
    ctc_growth: float = 0.0,
    names: Collection[str] | None = None,
) -> LearnerFeatures:
    """Clean one raw learner and compute its features, with the frozen rules and tables only.

    ``raw`` uses the raw file's field names (``company_hash``, ``orgyear``, ``ctc``,
    ``job_position``, ``ctc_updated_year``); missing fields fall back exactly as in training.
    Runs the same code as the batch path, on the scalar backend. ``names`` limits the features
    computed (as in :func:`compute_features`); it must hold ``company_known`` and
    ``title_known``, which the fallback warnings read.
    """
    clean = apply_rules(raw if "ctc" in raw else {**raw, "ctc": None}, rules, SCALAR)
    cleaned = clean_columns(clean)
    cleaned["n_records"] = n_records
    cleaned["ctc_growth"] = ctc_growth
    # The scalar backend computes Python floats, one per name asked for, in order.
    features: dict[str, float] = compute_features(cleaned, tables, SCALAR, names)
    return LearnerFeatures(
        features=features,
        warnings=describe_touches(clean, raw)
        + fallback_warnings(clean.company, clean.job_title, features),
        valid=bool(clean.valid),
    )


#: The features the fallback warnings read.
FALLBACK_FLAGS = ("company_known", "title_known")
#: The peer-group fallbacks a learner is warned about: name -> the warning.
FALLBACKS: dict[str, str] = {
    "company_fallback": (
        "company not seen in training (or too few learners): its pay level is unknown and "
        "counted as the population's"
    ),
    "title_fallback": "job title not seen in training (or too few learners): its track's pay used",
}


def fallback_warnings(company: Any, title: Any, features: Mapping[str, float]) -> list[str]:
    """Warnings for a learner whose company or title fell back to a coarser peer group."""
    out = []
    if company is not None and not features["company_known"]:
        out.append(FALLBACKS["company_fallback"])
    if title is not None and not features["title_known"]:
        out.append(FALLBACKS["title_fallback"])
    return out


def _is_text(values: Any) -> Any:
    """True where an object array holds a value (not None)."""
    return np.not_equal(values, np.array(None, dtype=object))


def fallback_masks(clean: CleanRows, values: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`fallback_warnings` for array-backend rows: name (as in FALLBACKS) -> bool mask."""
    return {
        "company_fallback": ~clean.touched["company_missing"] & (values["company_known"] == 0),
        "title_fallback": _is_text(clean.job_title) & (values["title_known"] == 0),
    }

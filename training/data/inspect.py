"""A data-quality summary of a raw learner table: what ``python -m training inspect`` reports.

Nulls, duplicates and the commonest titles and companies of the table as loaded; then the count of
every cleaning rule and the figures of the cleaned learners (the same cleaning and features a
training run would apply). The summary is one JSON-serialisable dict; the CLI prints it as tables
or as JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from training.prep.features import build_learner_data

if TYPE_CHECKING:
    import pandas as pd

    from training.config import TrainingSettings

__all__ = ["summarize_table"]

#: The percentiles reported of years of experience and of CTC.
_PERCENTILES = (10, 25, 50, 75, 90)
#: How many tracks are listed.
_TOP_FAMILIES = 20


def summarize_table(
    raw: pd.DataFrame, settings: TrainingSettings, *, top: int = 10
) -> dict[str, Any]:
    """Everything ``inspect`` reports about a raw table, as one JSON-serialisable dict.

    Parameters
    ----------
    raw : DataFrame, shape (n_rows, 6)
        The loader's schema (see :func:`training.data.load.load_learners`).
    settings : TrainingSettings
        Cleaning and feature knobs (the same a training run would use).
    top : int, default=10
        How many of the commonest job titles and companies to list.

    Returns
    -------
    dict
        ``rows``, ``columns``, ``nulls`` (per column), ``duplicates`` (exact rows, emails seen
        more than once, most rows of one email), ``learners_raw`` (distinct emails),
        ``top_job_positions`` and ``top_companies`` (value -> rows, commonest first),
        ``cleaning`` (the cleaning report: every rule and its count, in run order) and
        ``cleaned`` (learners, reference year, the plausible and upper CTC bounds, imputed CTCs,
        percentiles of years of experience and of CTC, the commonest role families).
    """
    emails = raw["email_hash"].value_counts(dropna=True)
    data = build_learner_data(raw, settings)
    years = data.features["years_experience"].to_numpy()
    ctc = data.learners["ctc"].to_numpy(dtype=np.float64)
    return {
        "rows": len(raw),
        "columns": list(raw.columns),
        "nulls": {c: int(v) for c, v in raw.isna().sum().items()},
        "duplicates": {
            "exact_rows": int(raw.duplicated().sum()),
            "emails_seen_more_than_once": int((emails > 1).sum()),
            "max_rows_per_email": int(emails.max()) if len(emails) else 0,
        },
        "learners_raw": int(raw["email_hash"].nunique()),
        "top_job_positions": _top(raw["job_position"], top),
        "top_companies": _top(raw["company_hash"], top),
        "cleaning": data.report.to_dict(),
        "cleaned": {
            "learners": len(data.learners),
            "reference_year": data.rules.reference_year,
            "ctc_plausible_range": [data.rules.ctc_min, data.rules.ctc_max],
            "ctc_upper_bound": data.rules.ctc_high,
            "ctc_imputed_learners": int(data.learners["ctc_imputed"].sum()),
            "years_experience": _percentiles(years),
            "ctc": _percentiles(ctc),
            "tracks": _top(data.learners["track"], _TOP_FAMILIES),
        },
    }


def _percentiles(values: npt.NDArray[Any]) -> dict[str, float]:
    """``p10`` .. ``p90`` of ``values``, rounded to 2 decimals (NaN for no values)."""
    if values.size == 0:
        return {f"p{p}": float("nan") for p in _PERCENTILES}
    points = np.percentile(values, _PERCENTILES)
    return {f"p{p}": round(float(v), 2) for p, v in zip(_PERCENTILES, points, strict=True)}


def _top(series: pd.Series, n: int) -> dict[str, int]:
    """The ``n`` commonest values of ``series`` (missing ones left out) and their counts."""
    counts = series.dropna().value_counts().head(n)
    return {str(k): int(v) for k, v in counts.items()}

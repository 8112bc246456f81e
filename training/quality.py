"""Data-quality summary of a raw learner table (``python -m training inspect``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from training.features import build_learner_data

if TYPE_CHECKING:
    import pandas as pd

    from training.config import TrainingSettings

PERCENTILES = (10, 25, 50, 75, 90)


def _percentiles(values: np.ndarray[Any, Any]) -> dict[str, float]:
    if values.size == 0:
        return {f"p{p}": float("nan") for p in PERCENTILES}
    points = np.percentile(values, PERCENTILES)
    return {f"p{p}": round(float(v), 2) for p, v in zip(PERCENTILES, points, strict=True)}


def _top(series: pd.Series, n: int) -> dict[str, int]:
    counts = series.dropna().value_counts().head(n)
    return {str(k): int(v) for k, v in counts.items()}


def summarize_table(
    raw: pd.DataFrame, settings: TrainingSettings, *, top: int = 10
) -> dict[str, Any]:
    """Everything ``inspect`` reports about a raw table, as one JSON-serialisable dict.

    Parameters
    ----------
    raw : DataFrame, shape (n_rows, 6)
        The loader's schema (see :func:`training.data.load_learners`).
    settings : TrainingSettings
        Cleaning and feature knobs (the same a training run would use).
    top : int
        How many of the commonest job titles and companies to list.
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
            "ctc_bounds": [data.rules.ctc_low, data.rules.ctc_high],
            "years_experience": _percentiles(years),
            "ctc": _percentiles(ctc),
            "role_families": _top(data.learners["role_family"], 20),
        },
    }

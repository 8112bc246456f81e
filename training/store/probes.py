"""The probe learners stored with a model, and the centre the fitted pipeline gave each.

The service places them four ways at every load (its kernel, ``pipeline.predict``, the JSON
kernel and these recorded centres) and refuses a model where they disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from training.runtime.artifacts import ArtifactError
from training.runtime.cleaning import WARNING_RULES, CleaningRules, apply_rules
from training.runtime.kernel import Kernel
from training.runtime.schema import RAW_FIELDS

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

__all__ = ["PROBES", "probe_document", "select_probes"]

#: Probe learners stored with a model (the service checks kernel and pipeline on them).
PROBES = 1_000


def select_probes(
    raw: pd.DataFrame, rules: CleaningRules, *, n: int = PROBES, seed: int = 0
) -> dict[str, list[Any]]:
    """Raw learners to store with a model: about half touched by a cleaning rule (junk).

    A seeded sample of placeable rows (positive CTC) of the raw table; where the table has
    them, half of the chosen rows are ones a warning rule repaired (implausible years, CTC
    outside its bounds, placeholder titles, ...). Values are JSON-ready (None for missing).

    Returns
    -------
    dict of str to list
        ``RAW_FIELDS`` columns of at most ``n`` learners.
    """
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(raw), size=min(len(raw), 8 * n), replace=False))
    sample = raw.iloc[rows]
    columns = {name: _json_values(sample[name]) for name in RAW_FIELDS}
    clean = apply_rules(columns, rules)
    touched = np.zeros(len(rows), bool)
    for name in WARNING_RULES:
        touched |= np.asarray(clean.touched[name], bool)
    valid = np.asarray(clean.valid, bool)
    junk = np.flatnonzero(valid & touched)[: n // 2]
    plain = np.flatnonzero(valid & ~touched)[: n - len(junk)]
    chosen = np.sort(np.concatenate([junk, plain]))
    return {name: [values[i] for i in chosen] for name, values in columns.items()}


def probe_document(
    pipeline: Pipeline, kernel: Kernel, probes: Mapping[str, list[Any]]
) -> dict[str, Any]:
    """The ``probes.json`` document: the learners and the centre the fitted pipeline gave each.

    Refuses to publish a model whose numpy kernel and pipeline already disagree here.
    """
    _, values = kernel.featurize(probes)
    x = kernel.matrix(values)
    expected = pipeline.predict(x) if len(x) else np.empty(0, np.intp)
    if not np.array_equal(kernel.assign(x), expected):
        raise ArtifactError(
            "The engine-free model and the fitted pipeline place the probe learners differently; "
            "the model is not published."
        )
    return {"learners": dict(probes), "centers": [int(c) for c in expected]}


def _json_values(column: pd.Series) -> list[Any]:
    """A raw column as JSON values: numbers as float, text as str, anything missing as None."""
    return [
        None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value
        for value in column.astype(object).tolist()
    ]

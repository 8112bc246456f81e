"""``python -m training drift``: the service's drift figures for a learner table, offline.

:func:`drift_table` places every row of a table the service would place (rows it would refuse
are counted as errors, not placed, as in the service), counts the placed rows into the bins of
the model's drift reference (:mod:`training.runtime.drift`) and reports the figures
``GET /model/drift`` would give for the same learners.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from training.batch.answers import few_collections
from training.batch.reading import raw_arrays
from training.data.load import open_learner_chunks
from training.progress import RowProgress
from training.runtime.artifacts import DRIFT_JSON, ArtifactError
from training.runtime.loader import VerifiedModel
from training.runtime.placement import learner_errors, place
from training.runtime.schema import RAW_FIELDS

__all__ = ["drift_table"]


def drift_table(
    source: str | Path,
    model: VerifiedModel,
    *,
    chunk_rows: int = 100_000,
    cache_dir: Path | None = None,
    progress: RowProgress | None = None,
) -> dict[str, Any]:
    """The service's drift figures for the rows of a table, as if it had placed each one.

    Parameters
    ----------
    source : str or Path
        Anything :func:`training.data.load.open_learner_chunks` reads (path or URL, CSV,
        CSV.gz, Parquet).
    model : VerifiedModel
        The model (:func:`training.runtime.loader.load_model`), with its drift reference.
    chunk_rows : int, default=100_000
        Rows read and placed at once (memory is bounded by it).
    cache_dir : Path, optional
        Where a downloaded source is kept.
    progress : callable, optional
        Called after every chunk (see :data:`training.progress.RowProgress`).

    Returns
    -------
    dict
        :meth:`~training.runtime.drift.DriftReference.report`'s figures, plus
        ``model_version``, ``rows`` (rows read) and ``errors`` (rows that cannot be placed).

    Raises
    ------
    ArtifactError
        The model has no drift reference (trained before ``drift.json``).
    training.data.load.DataError
        The source cannot be read.
    """
    reference = model.drift
    if reference is None:
        raise ArtifactError(
            f"Model {model.version} was trained without a drift reference ({DRIFT_JSON}): "
            "retrain it to measure drift."
        )
    table = open_learner_chunks(source, chunk_rows=chunk_rows, cache_dir=cache_dir)
    features = np.zeros(reference.total_bins, np.int64)
    segments = np.zeros(reference.k, np.int64)
    rows = errors = 0
    kernel = model.kernel
    with few_collections():
        for frame in table.chunks:
            columns = raw_arrays(frame)
            found = learner_errors(columns)
            keep = np.flatnonzero(
                np.equal(np.array(found, dtype=object), np.array(None, dtype=object))
            )
            if len(keep):
                placed = place(kernel, {name: columns[name][keep] for name in RAW_FIELDS})
                features += reference.feature_counts(placed.features)
                segments += reference.segment_counts(kernel.segment_ids[placed.nearest])
            rows += len(frame)
            errors += len(frame) - len(keep)
            if progress is not None:
                progress("placing", len(frame), table.rows)
    return {
        "model_version": model.version,
        "rows": rows,
        "errors": errors,
        **reference.report(features, segments),
    }

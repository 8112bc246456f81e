"""The answer rows of raw learners: placed as the service places them, or the error that stops it.

:func:`assign_columns` is the one function that turns raw columns into the rows of an
assignment table (:data:`OUTPUT_COLUMNS`): the row's number (from 0, as the API's batch
``index``), the caller's ``learner_id`` when the table has one, ``email_hash``, its segment,
macro-segment, track, its cohort's course, distance, relative margin, confidence, warnings and
the model version, or the
``error`` that keeps it from being placed (rows out = rows in; nothing is dropped). It places
with :func:`training.runtime.placement.place`, the very code behind ``POST /segment/batch``, so
a row gets the answer the service would give it. The local engine (:mod:`training.batch.assign`,
:mod:`training.batch.per_learner`) and the Spark executors (:mod:`training.spark.assign`) all
run it.

Placing many rows allocates many short-lived objects: :func:`few_collections` and
:data:`GC_THRESHOLD` keep Python's garbage collector from running dozens of times per chunk.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from training.runtime.kernel import HIGH, LOW
from training.runtime.loader import VerifiedModel
from training.runtime.placement import LIMITS, learner_errors, place
from training.runtime.schema import RAW_FIELDS

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "GC_THRESHOLD",
    "OUTPUT_COLUMNS",
    "assign_columns",
    "centre_names",
    "count_errors",
    "decode_answers",
    "few_collections",
    "raise_gc_threshold",
    "usable_ids",
]

#: The columns of an assignment table, in order (``learner_id`` follows ``row`` when the table
#: has one, then ``records`` per learner).
OUTPUT_COLUMNS: tuple[str, ...] = (
    "row",
    "email_hash",
    "segment_id",
    "segment_name",
    "coarse_segment_id",
    "track",
    "course",
    "course_name",
    "distance",
    "relative_margin",
    "confidence",
    "warnings",
    "model_version",
    "error",
)

#: Allocations between two runs of Python's youngest garbage collection while placing: as in the
#: service (``LEARNSEG_GC_THRESHOLD``), Python's 700 runs it dozens of times per chunk for the
#: lists and strings reference counting frees anyway (measured: chunks take 1.3-1.7x longer).
GC_THRESHOLD = 50_000

#: The text columns :func:`assign_columns` may leave dictionary-encoded.
_ENCODED = ("segment_name", "track", "course", "course_name", "confidence", "model_version")


def centre_names(model: VerifiedModel) -> list[str]:
    """The segment name of each centre, in the kernel's centre order.

    Parameters
    ----------
    model : VerifiedModel
        A model read by :func:`training.runtime.loader.load_model`.

    Returns
    -------
    list of str, length k
        ``profiles.json``'s name of ``model.kernel.segment_ids[i]`` at position i.
    """
    names = model.names()
    return [names[int(i)] for i in model.kernel.segment_ids]


def assign_columns(
    model: VerifiedModel,
    columns: Mapping[str, npt.NDArray[Any]],
    rows: npt.NDArray[np.int64],
    *,
    history: Mapping[str, npt.NDArray[np.float64]] | None = None,
    errors: list[str | None] | None = None,
    decoded: bool = True,
    learner_ids: pa.Array | None = None,
) -> pa.Table:
    """The output rows of raw rows: placed as the service places them, or their error.

    Parameters
    ----------
    model : VerifiedModel
        The model placing them (:func:`training.runtime.loader.load_model`).
    columns : mapping of str to ndarray, each of length n
        ``RAW_FIELDS`` and ``email_hash`` (text as object arrays of str or None, numbers as
        float64 with NaN for missing).
    rows : ndarray of int64, shape (n,)
        The row number of each (0 = the table's first data row, as the API's batch ``index``).
    history : mapping, optional
        ``n_records`` and ``ctc_growth`` per row (learners collapsed from several rows).
    errors : list, optional
        Errors already known (None where a row may be placed); by default the edge rules'
        (:func:`training.runtime.placement.learner_errors`).
    decoded : bool, default=True
        False leaves the text columns of few values dictionary-encoded (smaller to send to
        another process; :func:`decode_answers` decodes them).
    learner_ids : pyarrow.Array, optional
        The caller's id of each row, echoed as ``learner_id`` after ``row`` (:func:`usable_ids`).

    Returns
    -------
    pyarrow.Table
        :data:`OUTPUT_COLUMNS`, one row per input row, in order; ``warnings`` a list of strings.
    """
    import pyarrow as pa

    n = len(rows)
    found = learner_errors(columns) if errors is None else errors
    ok = np.equal(np.array(found, dtype=object), np.array(None, dtype=object))
    missing = ~ok
    keep = np.flatnonzero(ok)
    kernel, cohorts = model.kernel, model.cohorts
    centre = np.zeros(n, np.intp)
    track = np.zeros(n, np.intp)
    course = np.zeros(n, np.intp)
    distance = np.zeros(n, np.float64)
    relative = np.zeros(n, np.float64)
    high = np.ones(n, bool)
    warnings: list[list[str] | None]
    if len(keep):
        subset = {name: columns[name][keep] for name in RAW_FIELDS}
        extra = None if history is None else {k: v[keep] for k, v in history.items()}
        placed = place(kernel, subset, extra, cohorts=cohorts)
        centre[keep] = placed.nearest
        track[keep] = placed.track
        if placed.course is not None:
            course[keep] = placed.course
        distance[keep] = placed.distance
        if placed.relative_margin is not None:
            relative[keep] = placed.relative_margin
            high[keep] = kernel.confidence(placed.relative_margin) == HIGH
        if len(keep) == n:
            warnings = list(placed.warnings)
        else:
            warnings = [None] * n
            for i, words in zip(keep.tolist(), placed.warnings, strict=True):
                warnings[i] = words
    else:
        warnings = [None] * n

    # Values that repeat (per centre, track, course...) are written through a dictionary.
    def dictionary(codes: Any, values: Sequence[Any], kind: pa.DataType = pa.string()) -> pa.Array:
        indices = pa.array(np.asarray(codes).astype(np.int32), pa.int32(), mask=missing)
        out = pa.DictionaryArray.from_arrays(indices, pa.array(list(values), kind))
        return out if kind == pa.string() else out.cast(kind)

    table = pa.table(
        {
            "row": pa.array(rows, pa.int64()),
            "email_hash": _text_array(columns["email_hash"]),
            "segment_id": dictionary(centre, kernel.segment_ids.tolist(), pa.int64()),
            "segment_name": dictionary(centre, centre_names(model)),
            "coarse_segment_id": dictionary(centre, kernel.coarse.tolist(), pa.int64()),
            "track": dictionary(track, kernel.rules.tracks.ids),
            "course": dictionary(course, cohorts.courses),
            "course_name": dictionary(course, [cohorts.names[c] for c in cohorts.courses]),
            "distance": pa.array(distance, pa.float64(), mask=missing),
            "relative_margin": pa.array(relative, pa.float64(), mask=missing | (kernel.k == 1)),
            "confidence": dictionary(high, [LOW, HIGH]),
            "warnings": pa.array(warnings, pa.list_(pa.string())),
            "model_version": dictionary(np.zeros(n), [model.version]),
            "error": pa.array(found, pa.string()) if len(keep) < n else pa.nulls(n, pa.string()),
        }
    )
    if learner_ids is not None:
        table = table.add_column(1, "learner_id", usable_ids(learner_ids))
    return decode_answers(table) if decoded else table


def usable_ids(learner_ids: pa.Array) -> pa.Array:
    """The learner ids an answer echoes: each as given, null for one the edge rules refuse.

    Parameters
    ----------
    learner_ids : pyarrow.Array of n strings (null: none)

    Returns
    -------
    pyarrow.Array of n strings
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(learner_ids, pa.ChunkedArray):
        learner_ids = learner_ids.combine_chunks()
    too_long = pc.greater(pc.utf8_length(learner_ids), LIMITS.learner_id_max).fill_null(False)
    return pc.if_else(too_long, pa.scalar(None, pa.string()), learner_ids)


def decode_answers(table: pa.Table) -> pa.Table:
    """The dictionary-encoded text columns of :func:`assign_columns` as plain strings.

    Parameters
    ----------
    table : pyarrow.Table
        Answers made with ``decoded=False`` (already decoded columns are left as they are).

    Returns
    -------
    pyarrow.Table
        The same rows, the text columns (``segment_name``, ``track``, ``course``,
        ``course_name``, ``confidence``, ``model_version``) as strings.
    """
    import pyarrow as pa

    for name in _ENCODED:
        index = table.schema.get_field_index(name)
        column = table.column(index)
        if pa.types.is_dictionary(column.type):
            table = table.set_column(index, name, column.cast(pa.string()))
    return table


def count_errors(answers: pa.Table) -> int:
    """The rows of an answer table that could not be placed (a non-null ``error``).

    Parameters
    ----------
    answers : pyarrow.Table
        Rows of :data:`OUTPUT_COLUMNS`.

    Returns
    -------
    int
    """
    column = answers.column("error")
    return int(len(column) - column.null_count)


def raise_gc_threshold() -> tuple[int, int, int]:
    """Raise the youngest generation's GC threshold to :data:`GC_THRESHOLD` (never lower it).

    For a process that only places (a worker, a Spark executor's task); a run in a process
    that does more uses :func:`few_collections`.

    Returns
    -------
    tuple of 3 int
        The thresholds before.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(GC_THRESHOLD, before[0]), *before[1:])
    return before


@contextmanager
def few_collections() -> Iterator[None]:
    """:func:`raise_gc_threshold` for a block.

    Yields
    ------
    None
        The previous thresholds come back when the block ends, however it ends.
    """
    before = raise_gc_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _text_array(values: Any) -> pa.Array:
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    return pa.array(values, pa.string())

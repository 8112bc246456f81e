"""Reading a learner table for placing: the columns placement reads, and reading ahead.

A table is read chunk by chunk (:func:`training.data.load.open_learner_chunks`, memory bounded
by the chunk, not the table). A chunk becomes the columns :func:`training.runtime.placement.place`
reads in one of two ways:

* :func:`arrow_columns`: a Parquet batch of typed columns, with the loader's rules applied in
  Arrow (no Python string per row; text numbered once per distinct value);
* :func:`raw_arrays`: a frame already in the loader's schema (CSV, or a batch Arrow cannot
  take), as numpy arrays.

:func:`learner_ids` reads a chunk's optional ``learner_id`` column (the caller's own id, echoed
in the output, never used to place nor logged).

:func:`read_ahead` reads (and prepares) the next chunk in a background thread while the
current one is placed; the runs report the rows done through a
:data:`training.progress.RowProgress`.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from training.data.load import DataError, RawChunk, learner_id_position
from training.runtime.ops import Coded
from training.runtime.schema import NUMERIC_COLUMNS, REQUIRED_COLUMNS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["arrow_columns", "learner_ids", "raw_arrays", "read_ahead"]

_T = TypeVar("_T")


def raw_arrays(frame: pd.DataFrame) -> dict[str, npt.NDArray[Any]]:
    """The loader's frame as the columns placement reads: text as object, numbers as float.

    Parameters
    ----------
    frame : pandas.DataFrame
        :data:`training.data.load.REQUIRED_COLUMNS` in the loader's schema, n rows.

    Returns
    -------
    dict of str to ndarray, each of shape (n,)
        Numbers as float64 with NaN for missing; text as object arrays of str or None.
    """
    out: dict[str, npt.NDArray[Any]] = {}
    for name in REQUIRED_COLUMNS:
        column = frame[name]
        if name in NUMERIC_COLUMNS:
            out[name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = column.to_numpy(dtype=object)
            missing = column.isna().to_numpy(dtype=bool)
            if missing.any():  # NaN from a Parquet round trip; the array may be read-only
                values = values.copy()
                values[missing] = None
            out[name] = values
    return out


def arrow_columns(batch: Any) -> tuple[dict[str, Any], npt.NDArray[np.int64]] | None:
    """A Parquet batch of typed columns as the columns placement reads, without Python strings.

    The loader's rules (:func:`training.data.load.read_learners_frame`) for a batch whose
    numeric columns are numbers and whose text columns are strings, applied with Arrow: numbers
    as float64 with NaN for missing; blank text (empty or whitespace, as pandas' ``str.strip``
    sees it) missing; ``company_hash`` and ``job_position`` as
    :class:`~training.runtime.ops.Coded` columns (numbered by an Arrow dictionary, so the rules
    run once per distinct value), ``email_hash`` left an Arrow array.

    Parameters
    ----------
    batch : pyarrow.RecordBatch
        :data:`training.data.load.REQUIRED_COLUMNS`, in that order (as the loader reads
        Parquet); anything else (a CSV chunk's frame) gives None.

    Returns
    -------
    (columns, email_lengths) or None
        The columns by name, and the length in characters of each ``email_hash`` (0 when
        missing); None when the batch needs the loader's general rules (numbers given as text,
        other types, infinities, no rows), which :func:`training.data.load.decode_chunk`
        applies.
    """
    import pyarrow as pa

    if not isinstance(batch, pa.RecordBatch):
        return None
    required = len(REQUIRED_COLUMNS)
    if batch.num_rows == 0 or batch.num_columns not in (required, required + 1):
        return None
    columns: dict[str, Any] = {}
    email_lengths: npt.NDArray[np.int64] | None = None
    # A seventh column is the optional learner_id (:func:`learner_ids` reads it).
    for name, column in zip(REQUIRED_COLUMNS, batch.columns[:required], strict=True):
        kind = column.type
        if name in NUMERIC_COLUMNS:
            numbers = _arrow_numbers(column)
            if numbers is None:
                return None
            columns[name] = numbers
        elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return None
        elif name == "email_hash":
            columns[name], email_lengths = _arrow_email(column)
        else:
            columns[name] = _arrow_coded(column)
    if email_lengths is None:
        return None
    return columns, email_lengths


def learner_ids(chunk: RawChunk) -> tuple[pa.Array, npt.NDArray[np.int64]] | None:
    """A chunk's ``learner_id`` column as text, and each value's length in characters.

    Blank values (empty or whitespace) are missing, as the loader reads text; integers are
    written as text; the values are otherwise kept verbatim.

    Parameters
    ----------
    chunk : RawChunk
        A chunk of a table opened with a ``learner_id`` column (``LearnerChunks.learner_id``):
        a Parquet batch holds it after the required columns, a CSV frame among all its columns.

    Returns
    -------
    (ids, lengths) or None
        A pyarrow string array of n values (null: none) and their lengths (0: none); None when
        the chunk has no ``learner_id`` column.

    Raises
    ------
    DataError
        A ``learner_id`` column of another type than text or integers.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    data = chunk.data
    if isinstance(data, pa.RecordBatch):
        if data.num_columns != len(REQUIRED_COLUMNS) + 1:
            return None
        column: pa.Array = data.column(len(REQUIRED_COLUMNS))
    else:
        names = chunk.names if chunk.names is not None else list(data.columns)
        position = learner_id_position(names)
        if position is None:
            return None
        values = data.iloc[:, position].to_numpy(dtype=object)
        column = pa.array([v if isinstance(v, str) else None for v in values], pa.string())
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_null(kind):
        column = pc.cast(column, pa.string())
    elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise DataError(
            f"The learner table {chunk.origin} has a learner_id column of {kind} values; "
            "write it as text."
        )
    blank = pc.equal(pc.utf8_trim_whitespace(column), "")
    text = pc.if_else(blank, pa.scalar(None, column.type), column).cast(pa.string())
    lengths = np.asarray(pc.utf8_length(text).fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    return text, lengths


def _arrow_numbers(column: pa.Array) -> npt.NDArray[np.float64] | None:
    """A numeric column as float64 with NaN for missing; None when the loader must decide."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return None
    numbers = pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    values = np.array(numbers, dtype=np.float64)
    if np.isinf(values).any():  # refused by the loader, with its message
        return None
    return values


def _arrow_email(column: pa.Array) -> tuple[pa.Array, npt.NDArray[np.int64]]:
    """``email_hash`` with blanks missing, and each value's length in characters (0: none)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    blank = pc.equal(pc.utf8_trim_whitespace(column), "")
    text = pc.if_else(blank, pa.scalar(None, column.type), column)
    lengths = np.asarray(pc.utf8_length(text).fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    return text, lengths


def _arrow_coded(column: pa.Array) -> Coded:
    """A text column numbered by an Arrow dictionary, blanks and nulls missing."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column)  # nulls stay out of the dictionary
    words = encoded.dictionary
    blank = pc.equal(pc.utf8_trim_whitespace(words), "").to_numpy(zero_copy_only=False)
    uniques: list[Any] = words.to_pylist()
    for i in np.flatnonzero(blank).tolist():
        uniques[i] = None
    uniques.append(None)  # the code of a missing value
    codes = encoded.indices.fill_null(len(uniques) - 1).to_numpy(zero_copy_only=False)
    return Coded(np.asarray(codes, np.intp), uniques)


def read_ahead(items: Iterator[_T]) -> Iterator[_T]:
    """The items of an iterator, each next one produced by a background thread meanwhile.

    Reading and decoding a Parquet batch (pyarrow releases the GIL) overlaps with placing the
    previous one; one item is read ahead at most.

    Parameters
    ----------
    items : iterator
        Anything whose ``next`` may run in another thread (a chunk reader).

    Yields
    ------
    object
        The items of ``items``, in order.
    """
    end = object()
    with ThreadPoolExecutor(1, thread_name_prefix="learnseg-read") as reader:
        ahead: Future[Any] = reader.submit(next, items, end)
        while True:
            item = ahead.result()
            if item is end:
                return
            ahead = reader.submit(next, items, end)
            yield item

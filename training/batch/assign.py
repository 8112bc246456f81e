"""Bulk placement of a learner table, and its drift, with the service's runtime kernel.

``python -m training assign`` and ``python -m training drift`` (:mod:`training.__main__`) run
here. A table is read chunk by chunk (:func:`training.data.open_learner_chunks`, memory bounded
by the chunk, not the table); every chunk is checked against the service's edge rules and
placed by :func:`training.runtime.placement.place`, the very code behind ``POST
/segment/batch``, so a row gets the answer the service would give it:

* :func:`assign_columns` turns raw columns into the output rows (:data:`OUTPUT_COLUMNS`): the
  row's number and ``email_hash``, its segment, macro-segment, distance, relative margin,
  confidence, warnings and the model version, or the ``error`` that keeps it from being placed
  (rows out = rows in; nothing is dropped). The Spark engine (:mod:`training.spark.assign`)
  runs it on its executors.
* :func:`assign_table` writes them to Parquet or CSV through a hidden temporary file renamed
  over ``out`` at the end: an interrupted run leaves no output that looks complete.
  ``per_learner`` first collapses the rows of each email with the training rules (exact
  duplicates dropped, the latest record kept, with its record count and CTC growth): the rows
  are spread over hash partitions of the email on disk, so memory stays bounded by a
  partition.
* :func:`drift_table` counts the placed rows into the model's drift bins
  (:mod:`training.runtime.drift`) and reports the service's figures for them.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import math
import multiprocessing
import os
import shutil
import signal
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

from training.data.load import (
    NUMERIC_COLUMNS,
    REQUIRED_COLUMNS,
    LearnerChunks,
    RawChunk,
    decode_chunk,
    open_learner_chunks,
)
from training.runtime.artifacts import (
    DRIFT_JSON,
    KERNEL_JSON,
    LATEST_FILE,
    MANIFEST_FILE,
    PROFILES_JSON,
    ArtifactError,
    read_verified,
    resolve_model,
    verify_model,
)
from training.runtime.cleaning import RAW_FIELDS
from training.runtime.drift import DriftReference
from training.runtime.kernel import HIGH, LOW, Kernel
from training.runtime.ops import Coded
from training.runtime.placement import learner_errors, place

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "OUTPUT_COLUMNS",
    "OUTPUT_SUFFIXES",
    "AssignSummary",
    "OutputError",
    "PlacementModel",
    "assign_columns",
    "assign_table",
    "decode_answers",
    "drift_table",
    "load_placement_model",
    "output_format",
]

log = logging.getLogger(__name__)

#: The columns of an assignment table, in order (``records`` follows ``row`` per learner).
OUTPUT_COLUMNS: tuple[str, ...] = (
    "row",
    "email_hash",
    "segment_id",
    "segment_name",
    "coarse_segment_id",
    "distance",
    "relative_margin",
    "confidence",
    "warnings",
    "model_version",
    "error",
)
#: Output columns whose values repeat (dictionary-encoded in Parquet), and those a reader filters
#: on (with statistics).
_REPEATED = ["segment_name", "confidence", "warnings", "model_version", "error"]
_FILTERED = ["row", "segment_id", "coarse_segment_id"]
#: Output formats by file name.
OUTPUT_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv.gz"}

#: Allocations between two runs of Python's youngest garbage collection while placing: as in the
#: service (``LEARNSEG_GC_THRESHOLD``), Python's 700 runs it dozens of times per chunk for the
#: lists and strings reference counting frees anyway (measured: chunks take 1.3-1.7x longer).
GC_THRESHOLD = 50_000

_T = TypeVar("_T")

Progress = Callable[[str, int, int | None], None]
"""Called with what is being done (``"placing"``, ...), the input rows done since the previous
call, and the table's rows when known."""


# --------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class PlacementModel:
    """A verified model folder, engine-free: what assigning and drift need.

    Attributes
    ----------
    folder : Path
        The version folder.
    version : str
    model : Kernel
        ``segmenter.json``: rules, peer tables, centres.
    names : dict of int to str
        Segment id -> name (``profiles.json``).
    drift : DriftReference or None
        ``drift.json``; None for a model trained before it existed.
    """

    folder: Path
    version: str
    model: Kernel
    names: dict[int, str]
    drift: DriftReference | None

    def centre_names(self) -> list[str]:
        """The segment name of each centre, in the model's centre order."""
        return [self.names[int(i)] for i in self.model.segment_ids]


def load_placement_model(path: Path) -> PlacementModel:
    """Load a model for placing: a version folder, or a models folder (its ``LATEST``).

    Every file is checked against the manifest (SHA-256); the library versions are not,
    since nothing pickled is read.

    Raises
    ------
    ArtifactError
        With one sentence: no such folder, no model in it, a file that does not match.
    """
    if not path.exists():
        raise ArtifactError(f"The model folder {path} does not exist.")
    if not path.is_dir():
        raise ArtifactError(f"{path} is not a model folder (a version folder or a models folder).")
    if (path / MANIFEST_FILE).is_file():
        folder, model_dir = path, path.parent
    elif (path / LATEST_FILE).exists():
        folder, model_dir = resolve_model(path), path
    else:
        raise ArtifactError(
            f"{path} is not a model folder: it holds neither {MANIFEST_FILE} (a version folder) "
            f"nor {LATEST_FILE} (a models folder)."
        )
    manifest = verify_model(folder, check_versions=False)

    def document(name: str) -> Any:
        return json.loads(read_verified(folder, name, manifest, model_dir).decode("utf-8"))

    try:
        model = Kernel.from_dict(document(KERNEL_JSON))
        profiles = document(PROFILES_JSON)
        names = {int(p["id"]): str(p["name"]) for p in profiles["segments"]}
        drift = (
            DriftReference.from_dict(document(DRIFT_JSON))
            if DRIFT_JSON in manifest["files"]
            else None
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"Model {folder.name} cannot be used: {exc}") from None
    missing = [int(i) for i in model.segment_ids if int(i) not in names]
    if missing:
        raise ArtifactError(f"{PROFILES_JSON} of {folder.name} has no segment {missing[0]}.")
    return PlacementModel(
        folder=folder,
        version=str(manifest.get("version", folder.name)),
        model=model,
        names=names,
        drift=drift,
    )


# ------------------------------------------------------------------------------------- placing
def raw_arrays(frame: pd.DataFrame) -> dict[str, npt.NDArray[Any]]:
    """The loader's frame as the columns placement reads: text as object, numbers as float."""
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


def assign_columns(
    placing: PlacementModel,
    columns: Mapping[str, npt.NDArray[Any]],
    rows: npt.NDArray[np.int64],
    *,
    history: Mapping[str, npt.NDArray[np.float64]] | None = None,
    errors: list[str | None] | None = None,
    decoded: bool = True,
) -> pa.Table:
    """The output rows of raw rows: placed as the service places them, or their error.

    Parameters
    ----------
    placing : PlacementModel
    columns : mapping of str to ndarray, each of length n
        ``RAW_FIELDS`` and ``email_hash`` (text as object arrays of str or None, numbers as
        float64 with NaN for missing).
    rows : ndarray of int64, shape (n,)
        The row number of each (1 = the table's first data row).
    history : mapping, optional
        ``n_records`` and ``ctc_growth`` per row (learners collapsed from several rows).
    errors : list, optional
        Errors already known (None where a row may be placed); by default the edge rules'
        (:func:`training.runtime.placement.learner_errors`).
    decoded : bool, default=True
        False leaves the text columns of few values dictionary-encoded (smaller to send to
        another process; :func:`decode_answers` decodes them).

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
    model = placing.model
    centre = np.zeros(n, np.intp)
    distance = np.zeros(n, np.float64)
    relative = np.zeros(n, np.float64)
    high = np.ones(n, bool)
    warnings: list[list[str] | None]
    if len(keep):
        subset = {name: columns[name][keep] for name in RAW_FIELDS}
        extra = None if history is None else {k: v[keep] for k, v in history.items()}
        placed = place(model, subset, extra)
        centre[keep] = placed.nearest
        distance[keep] = placed.distance
        if placed.relative_margin is not None:
            relative[keep] = placed.relative_margin
            high[keep] = model.confidence(placed.relative_margin) == HIGH
        if len(keep) == n:
            warnings = list(placed.warnings)
        else:
            warnings = [None] * n
            for i, words in zip(keep.tolist(), placed.warnings, strict=True):
                warnings[i] = words
    else:
        warnings = [None] * n
    # Per-centre values are written through a dictionary of the centres (one string each).
    at_centre = pa.array(centre.astype(np.int32), pa.int32(), mask=missing)

    def per_centre(values: list[Any], kind: pa.DataType) -> pa.Array:
        return pa.DictionaryArray.from_arrays(at_centre, pa.array(values, kind)).cast(kind)

    fixed = pa.array(np.zeros(n, np.int32), pa.int32(), mask=missing)
    word = pa.array(high.astype(np.int32), pa.int32(), mask=missing)
    table = pa.table(
        {
            "row": pa.array(rows, pa.int64()),
            "email_hash": _text_array(columns["email_hash"]),
            "segment_id": per_centre(model.segment_ids.tolist(), pa.int64()),
            "segment_name": pa.DictionaryArray.from_arrays(
                at_centre, pa.array(placing.centre_names(), pa.string())
            ),
            "coarse_segment_id": per_centre(model.coarse.tolist(), pa.int64()),
            "distance": pa.array(distance, pa.float64(), mask=missing),
            "relative_margin": pa.array(relative, pa.float64(), mask=missing | (model.k == 1)),
            "confidence": pa.DictionaryArray.from_arrays(word, pa.array([LOW, HIGH], pa.string())),
            "warnings": pa.array(warnings, pa.list_(pa.string())),
            "model_version": pa.DictionaryArray.from_arrays(
                fixed, pa.array([placing.version], pa.string())
            ),
            "error": pa.array(found, pa.string()) if len(keep) < n else pa.nulls(n, pa.string()),
        }
    )
    return decode_answers(table) if decoded else table


def _text_array(values: Any) -> pa.Array:
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    return pa.array(values, pa.string())


def arrow_columns(batch: Any) -> tuple[dict[str, Any], npt.NDArray[np.int64]] | None:
    """A Parquet batch of typed columns as the columns placement reads, without Python strings.

    The loader's rules (:func:`training.data.read_learners_frame`) for a batch whose numeric
    columns are numbers and whose text columns are strings, applied with Arrow: numbers as
    float64 with NaN for missing; blank text (empty or whitespace, as pandas' ``str.strip``
    sees it) missing; ``company_hash`` and ``job_position`` as
    :class:`~training.runtime.ops.Coded` columns (numbered by an Arrow dictionary, so the rules
    run once per distinct value), ``email_hash`` left an Arrow array.

    Parameters
    ----------
    batch : pyarrow.RecordBatch
        :data:`training.data.REQUIRED_COLUMNS`, in that order (as the loader reads Parquet);
        anything else (a CSV chunk's frame) gives None.

    Returns
    -------
    (columns, email_lengths) or None
        The columns by name, and the length in characters of each ``email_hash`` (0 when
        missing); None when the batch needs the loader's general rules (numbers given as text,
        other types, infinities, no rows), which :func:`training.data.decode_chunk` applies.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(batch, pa.RecordBatch):
        return None
    if batch.num_rows == 0 or batch.num_columns != len(REQUIRED_COLUMNS):
        return None
    columns: dict[str, Any] = {}
    email_lengths: npt.NDArray[np.int64] | None = None
    for name, column in zip(REQUIRED_COLUMNS, batch.columns, strict=True):
        kind = column.type
        if name in NUMERIC_COLUMNS:
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                return None
            numbers = pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
            values = np.array(numbers, dtype=np.float64)
            if np.isinf(values).any():  # refused by the loader, with its message
                return None
            columns[name] = values
            continue
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return None
        if name == "email_hash":
            blank = pc.equal(pc.utf8_trim_whitespace(column), "")
            text = pc.if_else(blank, pa.scalar(None, kind), column)
            email_lengths = np.asarray(
                pc.utf8_length(text).fill_null(0).to_numpy(zero_copy_only=False), np.int64
            )
            columns[name] = text
            continue
        encoded = pc.dictionary_encode(column)  # nulls stay out of the dictionary
        words = encoded.dictionary
        blank = pc.equal(pc.utf8_trim_whitespace(words), "").to_numpy(zero_copy_only=False)
        uniques: list[Any] = words.to_pylist()
        for i in np.flatnonzero(blank).tolist():
            uniques[i] = None
        uniques.append(None)  # the code of a missing value
        codes = encoded.indices.fill_null(len(uniques) - 1).to_numpy(zero_copy_only=False)
        columns[name] = Coded(np.asarray(codes, np.intp), uniques)
    if email_lengths is None:
        return None
    return columns, email_lengths


def decode_answers(table: pa.Table) -> pa.Table:
    """The dictionary-encoded text columns of :func:`assign_columns` as plain strings."""
    import pyarrow as pa

    for name in ("segment_name", "confidence", "model_version"):
        index = table.schema.get_field_index(name)
        column = table.column(index)
        if pa.types.is_dictionary(column.type):
            table = table.set_column(index, name, column.cast(pa.string()))
    return table


@contextmanager
def few_collections() -> Iterator[None]:
    """Raise the youngest generation's GC threshold to :data:`GC_THRESHOLD` for a block."""
    before = gc.get_threshold()
    gc.set_threshold(max(GC_THRESHOLD, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


# ------------------------------------------------------------------------------------- writing
class OutputError(ValueError):
    """An output that cannot be written as asked; the message is one sentence."""


def output_format(out: Path) -> str:
    """``parquet``, ``csv`` or ``csv.gz`` by the name of ``out``; OutputError for another name."""
    name = out.name.lower()
    for suffix in sorted(OUTPUT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return OUTPUT_SUFFIXES[suffix]
    raise OutputError(f"Cannot write '{out}': name it .parquet, .pq, .csv or .csv.gz.")


class _Output:
    """Tables appended to a hidden temporary file beside ``out``, renamed over it at the end."""

    def __init__(self, out: Path, kind: str) -> None:
        self.out = out
        self.kind = kind
        out.parent.mkdir(parents=True, exist_ok=True)
        # Created by the first write (with the usual permissions), hidden, beside `out`: the
        # rename at the end stays on one file system.
        self.temp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.part")
        self._writer: Any = None
        self._stream: Any = None

    def write(self, table: pa.Table) -> None:
        import pyarrow as pa

        if self.kind != "parquet":
            table = _csv_ready(table)
        if self._writer is None:
            if self.kind == "parquet":
                import pyarrow.parquet as pq

                # Dictionaries only where values repeat (not the ids), statistics only where a
                # reader filters (rows, segments): together a third of the writing time.
                self._writer = pq.ParquetWriter(
                    self.temp,
                    table.schema,
                    use_dictionary=_REPEATED,
                    write_statistics=_FILTERED,
                )
            else:
                import pyarrow.csv as pacsv

                sink: Any = str(self.temp)
                if self.kind == "csv.gz":
                    self._stream = pa.CompressedOutputStream(str(self.temp), "gzip")
                    sink = self._stream
                self._writer = pacsv.CSVWriter(sink, table.schema)
        self._writer.write_table(table)

    def commit(self) -> None:
        self._close()
        os.replace(self.temp, self.out)

    def discard(self) -> None:
        try:
            self._close()
        finally:
            self.temp.unlink(missing_ok=True)

    def _close(self) -> None:
        writer, stream = self._writer, self._stream
        self._writer = self._stream = None
        if writer is not None:
            writer.close()
        if stream is not None:
            stream.close()


class _WriteBehind:
    """Writes tables to an :class:`_Output` in a background thread, one at a time and in order.

    pyarrow releases the GIL while it encodes and writes, so the next chunk is placed meanwhile;
    at most one table waits (memory stays bounded). An error of a write is raised by the next
    call, or on leaving the block.
    """

    def __init__(self, output: _Output) -> None:
        self._output = output
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="learnseg-write")
        self._pending: Future[None] | None = None

    def write(self, table: pa.Table) -> None:
        self._wait()
        self._pending = self._pool.submit(self._output.write, table)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> _WriteBehind:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            self._wait()
        except Exception:
            if kind is None:  # else the error already on its way says what stopped the run
                raise
        finally:
            self._pool.shutdown(wait=True)


def _read_ahead(items: Iterator[_T]) -> Iterator[_T]:
    """The items of an iterator, each next one produced by a background thread meanwhile.

    Reading and decoding a Parquet batch (pyarrow releases the GIL) overlaps with placing the
    previous one; one item is read ahead at most.
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


def _csv_ready(table: pa.Table) -> pa.Table:
    """``warnings`` as JSON text (CSV has no lists): ``[]`` for none, empty for an error row."""
    import pyarrow as pa

    index = table.schema.get_field_index("warnings")
    texts = [
        None if words is None else ("[]" if not words else orjson.dumps(words).decode("utf-8"))
        for words in table.column(index).to_pylist()
    ]
    return table.set_column(index, "warnings", pa.array(texts, pa.string()))


# ------------------------------------------------------------------------------------ the runs
@dataclass(frozen=True)
class AssignSummary:
    """What an assign run read and wrote."""

    out: Path
    model_version: str
    rows_in: int
    rows_out: int
    placed: int
    errors: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else math.inf


def assign_table(
    source: str | Path,
    out: Path,
    placing: PlacementModel,
    *,
    chunk_rows: int = 100_000,
    per_learner: bool = False,
    workers: int = 1,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> AssignSummary:
    """Place every row (or learner) of a table and write the answers to ``out``.

    Parameters
    ----------
    source : str or Path
        Anything :func:`training.data.open_learner_chunks` reads (path or URL, CSV, CSV.gz,
        Parquet).
    out : Path
        ``.parquet``/``.pq`` or ``.csv``/``.csv.gz``; replaced only once complete.
    placing : PlacementModel
    chunk_rows : int, default=100_000
        Rows read and placed at once (memory is bounded by it).
    per_learner : bool, default=False
        Collapse the rows of each email first (training's rules); one output row per learner,
        with ``records``, the input rows it stands for.
    cache_dir : Path, optional
        Where a downloaded source is kept.
    progress : callable, optional
        Called after every chunk (see :data:`Progress`).

    Returns
    -------
    AssignSummary

    Raises
    ------
    training.data.DataError
        The source cannot be read (nothing is written).
    OutputError
        ``out`` has another extension, or is the source itself.
    """
    kind = output_format(out)
    if Path(str(source)).expanduser().resolve() == out.resolve():
        raise OutputError(f"--out {out} is the table being read; write the answers elsewhere.")
    started = time.perf_counter()
    table = open_learner_chunks(source, chunk_rows=chunk_rows, cache_dir=cache_dir)
    output = _Output(out, kind)
    try:
        with few_collections():
            if per_learner:
                rows_in, rows_out, placed = _assign_per_learner(table, placing, output, progress)
            else:
                rows_in = rows_out = placed = 0
                with _WriteBehind(output) as writer:
                    for n, answers in _answers(table, placing, workers):
                        writer.write(answers)
                        placed += answers.num_rows - _errors(answers)
                        rows_in += n
                        rows_out += answers.num_rows
                        if progress is not None:
                            progress("placing", n, table.rows)
        output.commit()
    except BaseException:
        output.discard()
        raise
    seconds = time.perf_counter() - started
    return AssignSummary(
        out=out,
        model_version=placing.version,
        rows_in=rows_in,
        rows_out=rows_out,
        placed=placed,
        errors=rows_out - placed,
        seconds=seconds,
    )


# ---------------------------------------------------------------------------- placing workers
#: The model of a worker process (set once by :func:`_start_worker`).
_WORKER_MODEL: PlacementModel | None = None


def _prepared(chunk: RawChunk) -> tuple[RawChunk, Any]:
    """A raw chunk and its :func:`arrow_columns` (work done ahead, in the reading thread)."""
    return chunk, arrow_columns(chunk.data)


def _answer(
    placing: PlacementModel, chunk: RawChunk, *, decoded: bool = True, typed: Any = False
) -> pa.Table:
    """The answers to one raw chunk (the loader's rules, then :func:`assign_columns`).

    ``typed`` is the chunk's :func:`arrow_columns` when already computed (False: not yet).
    """
    if typed is False:
        typed = arrow_columns(chunk.data)
    if typed is None:
        frame = decode_chunk(chunk)
        rows = np.arange(chunk.first_row + 1, chunk.first_row + len(frame) + 1)
        return assign_columns(placing, raw_arrays(frame), rows, decoded=decoded)
    columns, email_lengths = typed
    errors = learner_errors(
        {name: columns[name] for name in RAW_FIELDS}, {"email_hash": email_lengths}
    )
    rows = np.arange(chunk.first_row + 1, chunk.first_row + len(email_lengths) + 1)
    return assign_columns(placing, columns, rows, errors=errors, decoded=decoded)


def _start_worker(placing: PlacementModel) -> None:
    global _WORKER_MODEL
    _WORKER_MODEL = placing
    gc.set_threshold(max(GC_THRESHOLD, gc.get_threshold()[0]), *gc.get_threshold()[1:])
    # Ctrl-C is for the parent: it stops the run, and the pool with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _answer_in_worker(chunk: RawChunk) -> pa.Table:
    assert _WORKER_MODEL is not None, "the worker was not started with a model"
    return _answer(_WORKER_MODEL, chunk, decoded=False)  # decoded by the parent: less to send


def _answers(
    table: LearnerChunks, placing: PlacementModel, workers: int
) -> Iterator[tuple[int, pa.Table]]:
    """(input rows, answers) of every chunk, in order; placed by `workers` processes when the
    table has more than one chunk."""
    raw = iter(table.raw)
    head = list(itertools.islice(raw, 2))
    if workers <= 1 or len(head) < 2:
        for chunk, typed in _read_ahead(map(_prepared, itertools.chain(head, raw))):
            yield len(chunk.data), _answer(placing, chunk, typed=typed)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process with Arrow threads
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(placing,)
    ) as pool:
        pending: deque[tuple[int, Future[pa.Table]]] = deque()
        try:
            for chunk in _read_ahead(itertools.chain(head, raw)):
                pending.append((len(chunk.data), pool.submit(_answer_in_worker, chunk)))
                if len(pending) > workers:
                    n, answer = pending.popleft()
                    yield n, decode_answers(answer.result())
            while pending:
                n, answer = pending.popleft()
                yield n, decode_answers(answer.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _errors(answers: pa.Table) -> int:
    column = answers.column("error")
    return int(len(column) - column.null_count)


# --------------------------------------------------------------------------------- per learner
def _partitions_for(table: LearnerChunks, chunk_rows: int) -> int:
    if table.rows is not None:
        rows = table.rows
    else:  # CSV: about 100 bytes a row (more when compressed), a guess that only sizes parts
        size = table.path.stat().st_size
        rows = size // 100 * (4 if table.path.suffix.lower() == ".gz" else 1)
    return int(min(512, max(1, math.ceil(rows / chunk_rows))))


def _assign_per_learner(
    table: LearnerChunks, placing: PlacementModel, output: _Output, progress: Progress | None
) -> tuple[int, int, int]:
    """Spread rows over hash partitions of their email on disk, then collapse and place each."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = output.temp.with_suffix(".parts")
    folder.mkdir()
    try:
        rows_in = 0
        writers: dict[int, Any] = {}
        parts = 0
        numeric = set(NUMERIC_COLUMNS)
        schema = pa.schema(
            [(c, pa.float64() if c in numeric else pa.string()) for c in REQUIRED_COLUMNS]
            + [("row", pa.int64())]
        )
        for frame in table.chunks:
            if not parts:
                parts = _partitions_for(table, max(len(frame), 1))
            frame = frame.assign(row=np.arange(rows_in + 1, rows_in + len(frame) + 1))
            rows_in += len(frame)
            keys = _partition_keys(frame, parts)
            for part in np.unique(keys).tolist():
                chunk = pa.Table.from_pandas(frame[keys == part], schema, preserve_index=False)
                writer = writers.get(part)
                if writer is None:
                    writer = writers[part] = pq.ParquetWriter(folder / f"{part}.parquet", schema)
                writer.write_table(chunk)
            if progress is not None:
                progress("grouping rows by learner", len(frame), table.rows)
        for writer in writers.values():
            writer.close()
        rows_out = placed = 0
        for part in sorted(writers):
            frame = pq.read_table(folder / f"{part}.parquet").to_pandas()
            answers = _collapse_and_place(frame, placing)
            output.write(answers)
            rows_out += answers.num_rows
            placed += answers.num_rows - _errors(answers)
            if progress is not None:
                progress("placing learners", len(frame), rows_in)
        return rows_in, rows_out, placed
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _partition_keys(frame: pd.DataFrame, parts: int) -> npt.NDArray[np.int64]:
    """A partition per row: by email, or for a row without one by all its fields."""
    import pandas as pd

    email = frame["email_hash"]
    by_email = pd.util.hash_pandas_object(email.fillna(""), index=False).to_numpy()
    by_row = pd.util.hash_pandas_object(frame[list(REQUIRED_COLUMNS)], index=False).to_numpy()
    hashed = np.where(email.notna().to_numpy(), by_email, by_row)
    keys: npt.NDArray[np.int64] = (hashed % np.uint64(parts)).astype(np.int64)
    return keys


def _collapse_and_place(frame: pd.DataFrame, placing: PlacementModel) -> pa.Table:
    """One partition: drop exact duplicates, collapse each email's placeable rows, place them.

    Training's rules (:func:`training.cleaning.collapse_learners`): the latest record,
    preferring one with a job title, then file order; ``n_records`` and ``ctc_growth`` from the
    learner's records. A learner none of whose rows can be placed gets one row with the error.
    """
    import pandas as pd
    import pyarrow as pa

    from training.prep.cleaning import collapse_learners, learner_ids

    columns = raw_arrays(frame)
    rows = frame["row"].to_numpy(np.int64)
    errors = learner_errors(columns)
    # A row without an email is a learner of its own, and its exact duplicates are that learner
    # too: they are numbered by the first of the identical rows.
    same = frame.groupby(list(REQUIRED_COLUMNS), dropna=False, sort=False).ngroup().to_numpy()
    first = np.zeros(same.max() + 1, np.int64)
    first[same[::-1]] = rows[::-1]
    ids, _ = learner_ids(columns["email_hash"], first[same])
    records = pd.Series(ids).value_counts()
    ok = np.fromiter((e is None for e in errors), dtype=bool, count=len(rows))
    unique = ~frame[list(REQUIRED_COLUMNS)].duplicated().to_numpy()
    usable = np.flatnonzero(ok & unique)
    clean = placing.model.featurize({c: columns[c][usable] for c in RAW_FIELDS})[0]
    kept = collapse_learners(
        pd.DataFrame(
            {
                "learner_id": ids[usable],
                "ctc": clean.ctc,
                "ctc_updated_year": clean.ctc_updated_year,
                "has_title": pd.notna(pd.Series(clean.job_title)).to_numpy(),
                "order": np.arange(len(usable)),
                "position": usable,
            }
        )
    )
    at = kept["position"].to_numpy(np.int64)
    placed = assign_columns(
        placing,
        {c: v[at] for c, v in columns.items()},
        rows[at],
        history={
            "n_records": kept["n_records"].to_numpy(np.float64),
            "ctc_growth": kept["ctc_growth"].to_numpy(np.float64),
        },
        errors=[None] * len(at),
    )
    placed = placed.add_column(
        1, "records", pa.array(records.reindex(kept["learner_id"]).to_numpy(np.int64))
    )
    # Learners without a placeable row: their first row, with why none could be placed.
    placed_ids = set(kept["learner_id"].tolist())
    lost: dict[str, int] = {}
    for i, learner in enumerate(ids.tolist()):
        if learner not in placed_ids and learner not in lost:
            lost[learner] = i
    if not lost:
        return placed
    at = np.array(list(lost.values()), np.int64)
    counts = records.reindex(list(lost)).to_numpy(np.int64)
    failed = assign_columns(
        placing,
        {c: v[at] for c, v in columns.items()},
        rows[at],
        errors=[
            f"None of the learner's {n} row{'s' if n > 1 else ''} can be placed: {errors[i]}"
            for i, n in zip(at.tolist(), counts.tolist(), strict=True)
        ],
    ).add_column(1, "records", pa.array(counts))
    return pa.concat_tables([placed, failed])


# --------------------------------------------------------------------------------------- drift
def drift_table(
    source: str | Path,
    placing: PlacementModel,
    *,
    chunk_rows: int = 100_000,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The service's drift figures for the rows of a table, as if it had placed each one.

    Every row the service would place is placed (rows it would refuse are not counted, as in
    the service) and counted into the model's bins; the figures are
    :meth:`~training.runtime.drift.DriftReference.report`'s, plus ``model_version``,
    ``rows`` (rows read) and ``errors`` (rows that cannot be placed).

    Raises
    ------
    ArtifactError
        The model has no drift reference (trained before ``drift.json``).
    training.data.DataError
        The source cannot be read.
    """
    reference = placing.drift
    if reference is None:
        raise ArtifactError(
            f"Model {placing.version} was trained without a drift reference ({DRIFT_JSON}): "
            "retrain it to measure drift."
        )
    table = open_learner_chunks(source, chunk_rows=chunk_rows, cache_dir=cache_dir)
    features = np.zeros(reference.total_bins, np.int64)
    segments = np.zeros(reference.k, np.int64)
    rows = errors = 0
    model = placing.model
    with few_collections():
        for frame in table.chunks:
            columns = raw_arrays(frame)
            found = learner_errors(columns)
            keep = np.flatnonzero(
                np.equal(np.array(found, dtype=object), np.array(None, dtype=object))
            )
            if len(keep):
                placed = place(model, {name: columns[name][keep] for name in RAW_FIELDS})
                features += reference.feature_counts(placed.features)
                segments += reference.segment_counts(model.segment_ids[placed.nearest])
            rows += len(frame)
            errors += len(frame) - len(keep)
            if progress is not None:
                progress("placing", len(frame), table.rows)
    return {
        "model_version": placing.version,
        "rows": rows,
        "errors": errors,
        **reference.report(features, segments),
    }


def iter_output(out: Path) -> Iterator[dict[str, Any]]:
    """The rows of an assignment table (Parquet or CSV), as dicts (for tests and tools)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pq.read_table(out) if output_format(out) == "parquet" else pacsv.read_csv(out)
    yield from table.to_pylist()

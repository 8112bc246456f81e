"""``python -m training assign``: every row of a learner table placed as the service would place it.

:func:`assign_table` reads a table chunk by chunk (:func:`training.data.load.open_learner_chunks`,
memory bounded by the chunk, not the table), answers every chunk with
:func:`training.batch.answers.assign_columns` (the service's edge rules and placement) and writes
the answers through :class:`training.batch.writing.OutputFile` (a hidden temporary file renamed
over ``out`` once complete). Reading the next chunk (:func:`training.batch.reading.read_ahead`)
and writing the previous one (:class:`training.batch.writing.WriteBehind`) overlap with placing;
with ``workers`` > 1, chunks are placed by as many processes side by side, in order.
``per_learner`` collapses the rows of each email first (:mod:`training.batch.per_learner`).

Rows are numbered from 0 (``row``), as the service numbers the items of a batch (``index``). A
``learner_id`` column, when the table has one, is echoed in every output row (the edge rules
refuse one over 128 characters); it is never used to place, nor logged.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from training.batch.answers import (
    assign_columns,
    count_errors,
    decode_answers,
    few_collections,
    raise_gc_threshold,
)
from training.batch.explain import append_what_ifs
from training.batch.per_learner import assign_per_learner
from training.batch.reading import arrow_columns, learner_ids, raw_arrays, read_ahead
from training.batch.writing import OutputError, OutputFile, WriteBehind, output_format
from training.data.load import LearnerChunks, RawChunk, decode_chunk, open_learner_chunks
from training.progress import RowProgress
from training.runtime.loader import VerifiedModel
from training.runtime.placement import learner_errors
from training.runtime.schema import RAW_FIELDS

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["AssignSummary", "assign_table"]


@dataclass(frozen=True)
class AssignSummary:
    """What an assign run read and wrote.

    Attributes
    ----------
    out : Path
        The output written.
    model_version : str
    rows_in : int
        Rows read.
    rows_out : int
        Rows written (learners with ``per_learner``).
    placed : int
        Rows written with a segment.
    errors : int
        Rows written with an error instead.
    seconds : float
        From the call to the renamed output.
    """

    out: Path
    model_version: str
    rows_in: int
    rows_out: int
    placed: int
    errors: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Input rows per second (infinite for a run too short to time)."""
        return self.rows_in / self.seconds if self.seconds > 0 else math.inf


def assign_table(
    source: str | Path,
    out: Path,
    model: VerifiedModel,
    *,
    chunk_rows: int = 100_000,
    per_learner: bool = False,
    workers: int = 1,
    cache_dir: Path | None = None,
    progress: RowProgress | None = None,
    explain: bool = False,
) -> AssignSummary:
    """Place every row (or learner) of a table and write the answers to ``out``.

    Parameters
    ----------
    source : str or Path
        Anything :func:`training.data.load.open_learner_chunks` reads (path or URL, CSV,
        CSV.gz, Parquet).
    out : Path
        ``.parquet``/``.pq`` or ``.csv``/``.csv.gz``; replaced only once complete.
    model : VerifiedModel
        The model (:func:`training.runtime.loader.load_model`).
    chunk_rows : int, default=100_000
        Rows read and placed at once (memory is bounded by it).
    per_learner : bool, default=False
        Collapse the rows of each email first (training's rules); one output row per learner,
        with ``records``, the input rows it stands for.
    workers : int, default=1
        Processes placing chunks side by side (one: placed in this process).
    cache_dir : Path, optional
        Where a downloaded source is kept.
    progress : callable, optional
        Called after every chunk (see :data:`training.progress.RowProgress`).
    explain : bool, default=False
        Append the what-if columns of every row (:mod:`training.batch.explain`); rows only,
        not with ``per_learner`` (ValueError).

    Returns
    -------
    AssignSummary

    Raises
    ------
    training.data.load.DataError
        The source cannot be read (nothing is written).
    OutputError
        ``out`` has another extension, or is the source itself.
    """
    kind = output_format(out)
    if explain and per_learner:
        raise ValueError("--explain answers rows, not learners: drop --per-learner.")
    if Path(str(source)).expanduser().resolve() == out.resolve():
        raise OutputError(f"--out {out} is the table being read; write the answers elsewhere.")
    started = time.perf_counter()
    table = open_learner_chunks(source, chunk_rows=chunk_rows, cache_dir=cache_dir)
    output = OutputFile(out, kind)
    try:
        with few_collections():
            if per_learner:
                rows_in, rows_out, placed = assign_per_learner(table, model, output, progress)
            else:
                answering = _answer_explained if explain else _answer
                rows_in, rows_out, placed = _assign_rows(
                    table, model, output, workers, progress, answering
                )
        output.commit()
    except BaseException:
        output.discard()
        raise
    return AssignSummary(
        out=out,
        model_version=model.version,
        rows_in=rows_in,
        rows_out=rows_out,
        placed=placed,
        errors=rows_out - placed,
        seconds=time.perf_counter() - started,
    )


def _assign_rows(
    table: LearnerChunks,
    model: VerifiedModel,
    output: OutputFile,
    workers: int,
    progress: RowProgress | None,
    answering: _Answer,
) -> tuple[int, int, int]:
    """Answer every chunk in order, writing behind; (rows read, rows written, rows placed)."""
    rows_in = rows_out = placed = 0
    with WriteBehind(output) as writer:
        for n, answers in _answers(table, model, workers, answering):
            writer.write(answers)
            placed += answers.num_rows - count_errors(answers)
            rows_in += n
            rows_out += answers.num_rows
            if progress is not None:
                progress("placing", n, table.rows)
    return rows_in, rows_out, placed


def _prepared(chunk: RawChunk) -> tuple[RawChunk, Any]:
    """A raw chunk and its :func:`arrow_columns` (work done ahead, in the reading thread)."""
    return chunk, arrow_columns(chunk.data)


def _answer(
    model: VerifiedModel, chunk: RawChunk, *, decoded: bool = True, typed: Any = False
) -> pa.Table:
    """The answers to one raw chunk (the loader's rules, then :func:`assign_columns`).

    ``typed`` is the chunk's :func:`arrow_columns` when already computed (False: not yet).
    """
    if typed is False:
        typed = arrow_columns(chunk.data)
    ids = learner_ids(chunk)
    lengths = {} if ids is None else {"learner_id": ids[1]}
    given = None if ids is None else ids[0]
    if typed is None:
        frame = decode_chunk(chunk)
        columns = raw_arrays(frame)
        errors = learner_errors(columns, lengths)
        rows = np.arange(chunk.first_row, chunk.first_row + len(frame))
    else:
        columns, email_lengths = typed
        errors = learner_errors(
            {name: columns[name] for name in RAW_FIELDS},
            {"email_hash": email_lengths, **lengths},
        )
        rows = np.arange(chunk.first_row, chunk.first_row + len(email_lengths))
    return assign_columns(model, columns, rows, errors=errors, decoded=decoded, learner_ids=given)


def _answer_explained(
    model: VerifiedModel, chunk: RawChunk, *, decoded: bool = True, typed: Any = False
) -> pa.Table:
    """:func:`_answer` with the what-if columns of :mod:`training.batch.explain` appended."""
    if typed is False:
        typed = arrow_columns(chunk.data)
    answers = _answer(model, chunk, decoded=decoded, typed=typed)
    raw = raw_arrays(decode_chunk(chunk)) if typed is None else typed[0]
    return append_what_ifs(model, raw, answers)


_Answer = Callable[..., "pa.Table"]

# ---------------------------------------------------------------------------- placing workers
#: The model of a worker process and how it answers (set once by :func:`_start_worker`).
_WORKER_MODEL: VerifiedModel | None = None
_WORKER_ANSWER: _Answer = _answer


def _start_worker(model: VerifiedModel, answer: _Answer = _answer) -> None:
    global _WORKER_MODEL, _WORKER_ANSWER
    _WORKER_MODEL, _WORKER_ANSWER = model, answer
    raise_gc_threshold()
    # Ctrl-C is for the parent: it stops the run, and the pool with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _answer_in_worker(chunk: RawChunk) -> pa.Table:
    assert _WORKER_MODEL is not None, "the worker was not started with a model"
    return _WORKER_ANSWER(_WORKER_MODEL, chunk, decoded=False)  # decoded by the parent


def _answers(
    table: LearnerChunks, model: VerifiedModel, workers: int, answering: _Answer = _answer
) -> Iterator[tuple[int, pa.Table]]:
    """(input rows, answers) of every chunk, in order; placed by `workers` processes when the
    table has more than one chunk."""
    raw = iter(table.raw)
    head = list(itertools.islice(raw, 2))
    if workers <= 1 or len(head) < 2:
        for chunk, typed in read_ahead(map(_prepared, itertools.chain(head, raw))):
            yield len(chunk.data), answering(model, chunk, typed=typed)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process with Arrow threads
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(model, answering)
    ) as pool:
        pending: deque[tuple[int, Future[pa.Table]]] = deque()
        try:
            for chunk in read_ahead(itertools.chain(head, raw)):
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
